"""The nightly acceptance run: pytest over the suites with required hardware, Allure results with
environment, categories and history, the HTML report (no analytics), and the summary JSON.

`run_nightly(config)` returns the exit code: 0 only when every test passed and every required
piece of hardware was present. Config errors raise `NightlyConfigError` naming the file and field.
"""

from __future__ import annotations

import json
import subprocess

from srharness.hardware import detect
from srharness.report import write_json_atomic
from srharness.report.history import git_commit  # noqa: F401  (also srharness.farm.identity's)

from . import pytest_run
from .allure_report import (  # noqa: F401
    ALLURE_ENV,
    ANALYTICS_MARKERS,
    ANALYTICS_SCRIPT,
    INSTALL_HINT,
    REPORT_CHARTS,
    Generator,
    find_generator,
    generate_report,
    strip_analytics,
)
from .config import (  # noqa: F401
    KNOWN_KEYS,
    NightlyConfig,
    NightlyConfigError,
    load_config,
    read_settings,
)
from .matrix_page import (  # noqa: F401
    MATRIX_ATTACHMENT,
    MATRIX_PAGE,
    OPEN_MATRIX_SCRIPT,
    TREND_RUNS,
    VERDICT_TABLE_ATTACHMENT,
    _load_summary,
    open_matrix_first,
    write_matrix_page,
)
from .pytest_run import pytest_command, run_pytest, say  # noqa: F401
from .results import (  # noqa: F401
    CATEGORIES,
    HARDWARE_MISSING_PREFIX,
    LIBRARIES,
    VENDOR_TOOLS,
    categories_for_allure3,
    environment_properties,
    prepare_results_dir,
    write_categories,
    write_environment,
    write_failed_result,
)


# ---------------------------------------------------------------- the run
def run_nightly(cfg: NightlyConfig, generate: bool = True, json_output: bool = False) -> int:
    pytest_run._quiet_stdout = json_output     # say() and run_pytest() read it
    phases = 4 if generate else 3
    say(f"srharness nightly [1/{phases}]: preparing {cfg.results_dir}")
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    prepare_results_dir(cfg.results_dir)
    cfg.summary_json.unlink(missing_ok=True)
    write_categories(cfg.results_dir)
    write_environment(cfg.results_dir, environment_properties(cfg))

    missing = {hw: detect(hw) for hw in cfg.require if not detect(hw).present}
    say(f"srharness nightly [2/{phases}]: running pytest over {' '.join(cfg.suites)}")
    rc, output = run_pytest(cfg, pytest_command(cfg), cfg.results_dir / "pytest-output.txt")
    failures: list[str] = []
    if missing:
        for hw, d in missing.items():
            write_failed_result(
                cfg.results_dir, f"Required hardware missing: {hw}",
                f"{HARDWARE_MISSING_PREFIX}: {hw}: {d.reason}. Nothing was run: the nightly requires {hw} "
                f"(config {cfg.path}, field 'require').",
                trace=output[-4000:], labels={"hardware": hw, "check": "hardware", "tag": "hardware-missing"})
            failures.append(f"required hardware missing: {hw} ({d.reason})")
    elif rc not in (0, 1):
        # pytest could not run the tests at all (usage error, collection error, interrupted).
        write_failed_result(cfg.results_dir, f"pytest did not complete (exit {rc})",
                            f"tool failure: pytest exited with {rc} before or while running the suites",
                            trace=output[-4000:], status="broken", labels={"suite": "pytest run"})
    if rc != 0:
        failures.append(f"pytest exit code {rc}")

    summary = _load_summary(cfg.summary_json)
    summary["nightly"] = {"config": str(cfg.path), "required": cfg.require, "missing_hardware": sorted(missing),
                          "pytest_exit_code": rc, "results_dir": str(cfg.results_dir),
                          "report_dir": None, "failures": failures}
    figures = summary.get("figures", {})
    if figures.get("fail"):
        failures.append(f"{figures['fail']} figure(s) failed their golden rule")
    if figures.get("xpass"):
        failures.append(f"{figures['xpass']} figure(s) passed where the guide's own figure fails (XPASS: "
                        "a changed finding)")
    failures.extend(summary.get("failures", []))   # regressions (named) and required figures not judged

    say(f"srharness nightly [3/{phases}]: writing the conformance matrix page")
    write_matrix_page(cfg, summary)
    if generate:
        say(f"srharness nightly [4/{phases}]: generating the HTML report")
        gen = find_generator()
        if gen is None:
            say(f"srharness nightly: no Allure generator found; results are in {cfg.results_dir}.\n  To get the "
                f"HTML report, {INSTALL_HINT}")
        else:
            try:
                generate_report(cfg, gen)
                summary["nightly"]["report_dir"] = str(cfg.report_dir)
                summary["nightly"]["generator"] = f"allure {gen.major} ({gen.command[0]})"
                say(f"srharness nightly: report in {cfg.report_dir}" +
                    (" (single file index.html)" if cfg.single_file else ""))
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                failures.append(f"report generation failed: {exc}")
    summary["nightly"]["failures"] = failures
    write_json_atomic(cfg.summary_json, summary)
    say(f"srharness nightly: summary in {cfg.summary_json}; first page {cfg.out_dir / MATRIX_PAGE}")
    if json_output:
        print(json.dumps({"exit_code": 1 if failures else 0, "failures": failures, "summary": str(cfg.summary_json),
                          "report_dir": summary["nightly"]["report_dir"], "figures": summary.get("figures", {}),
                          "coverage": summary.get("coverage", {}), "matrix": summary.get("matrix", {}),
                          "not_judged": summary.get("not_judged", []), "compare": summary.get("compare")},
                         indent=2, default=str))
    if failures:
        say("srharness nightly: FAILED:\n" + "\n".join(f"  - {f}" for f in failures))
        return 1
    say("srharness nightly: all passed")
    return 0
