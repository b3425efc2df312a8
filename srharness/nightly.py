"""The nightly acceptance run: pytest over the suites with required hardware, Allure results with
environment, categories and history, the HTML report (no analytics), and the summary JSON.

`run_nightly(config)` returns the exit code: 0 only when every test passed and every required
piece of hardware was present. Config errors raise `NightlyConfigError` naming the file and field.
"""
from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from srharness.hardware import HARDWARE, detect
from srharness.report import write_json_atomic
from srharness.report.history import git_commit  # noqa: F401  (also srharness.farm.identity's)
from srharness.fileio import atomic_write_text

ALLURE_ENV = "SRHARNESS_ALLURE"   # path of the `allure` executable when not on PATH
INSTALL_HINT = ("install Allure's report generator: `npm install allure` (Allure 3, needs Node 18+; put it on PATH, "
                f"in node_modules/ of the project, or point {ALLURE_ENV} at node_modules/.bin/allure), or "
                "Allure 2 `allure-commandline` (needs Java 17): https://allurereport.org/docs/install/")
HARDWARE_MISSING_PREFIX = "required hardware missing"

# Allure categories, matched against our failure messages (see checks and srharness.plugin).
CATEGORIES = [
    # srharness.farm.merge: a shard whose host died, timed out or never finished.
    {"name": "Farm shard lost", "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"(?s).*\bfarm shard \S+ (lost|incomplete)\b.*"},
    {"name": "Hardware missing", "matchedStatuses": ["failed", "broken", "skipped"],
     "messageRegex": r"(?s).*(required hardware (missing|test skipped)|required hardware .* had no test).*"},
    # srharness.checks.figures skips a golden figure it cannot judge with "not judged: <reason>".
    {"name": "Not judged", "matchedStatuses": ["skipped"], "messageRegex": r"(?s).*\bnot judged: .*"},
    {"name": "Tool failure", "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"(?s).*(ToolError|LogParseError|CalledProcessError|TimeoutExpired|command not found"
                     r"|tool (failed|failure|error)|\b(atc|trtexec|ais_bench|benchmark|vamc|vamp|pytest) "
                     r"(failed|error|exited|timed out)|exit (code|status) \d+|malformed .*log|did not complete).*"},
    {"name": "Accuracy regression", "matchedStatuses": ["failed"],
     "messageRegex": r"(?s).*(accuracy regression|\b(psnr|ssim|PSNR|SSIM)\b|\bdB\b).*"},
    {"name": "Performance regression", "matchedStatuses": ["failed"],
     "messageRegex": r"(?s).*(performance regression|\b(fps|qps|latency|throughput)\b|does not exceed).*"},
    {"name": "Export / graph violation", "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"(?s).*(export|opset|graph|onnx|ONNX|DepthToSpace|static axes|dynamic (shape|axes)"
                     r"|op census|rewrite|differs from torch).*"},
]


LIBRARIES = ("torch", "onnx", "onnxruntime", "onnxscript", "numpy", "pytest", "pytest-xdist", "allure-pytest",
             "opencv-python-headless", "scikit-image")


def categories_for_allure3() -> list[dict[str, Any]]:
    """The same categories for Allure 3's config: JavaScript regexes search (no full match, no `(?s)`)."""
    out = []
    for c in CATEGORIES:
        regex = c["messageRegex"].removeprefix("(?s).*").removesuffix(".*")
        out.append({**c, "messageRegex": regex})
    return out


VENDOR_TOOLS = ("atc", "benchmark", "ais_bench", "npu-smi", "vamc", "vamp", "vasmi", "trtexec", "nvidia-smi")


class NightlyConfigError(ValueError):
    pass


_quiet_stdout = False   # --json: stdout carries only the JSON document; progress and pytest's output go to stderr


def say(text: str) -> None:
    print(text, file=sys.stderr if _quiet_stdout else sys.stdout, flush=True)


@dataclass
class NightlyConfig:
    path: Path                      # the config file; relative paths are resolved against its folder
    suites: list[str]
    require: list[str]
    markers: str | None = None
    keyword: str | None = None
    data_dir: Path | None = None
    weights_dir: Path | None = None
    golden_dir: Path | None = None
    out_dir: Path = Path("out/nightly")
    single_file: bool = False
    workers: str | None = None      # None: no xdist; "auto" or a number
    report_name: str = "srharness nightly"
    pytest_args: list[str] = field(default_factory=list)
    require_figures: bool = False   # fail on any selected golden figure not judged
    compare_fail: str | None = None  # regression rule against the previous run, e.g. "fps:10%,psnr:0.05dB"

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def results_dir(self) -> Path:
        return self.out_dir / "allure-results"

    @property
    def report_dir(self) -> Path:
        return self.out_dir / "allure-report"

    @property
    def history_dir(self) -> Path:
        return self.out_dir / "history"

    @property
    def summary_json(self) -> Path:
        return self.out_dir / "summary.json"


KNOWN_KEYS = {"suites", "require", "markers", "keyword", "data_dir", "weights_dir", "golden_dir", "out_dir",
              "single_file", "workers", "report_name", "pytest_args", "require_figures", "compare_fail"}


def read_settings(path: Path, *, where: str, example: str, known: set[str], error: type[Exception]) -> dict:
    """A YAML settings file (nightly, farm) as a mapping with only `known` keys, or `error` naming
    the file and the fix."""
    import yaml
    if not path.is_file():
        raise error(f"{where}: no such file (copy {example} and edit it)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise error(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise error(f"{where}: expected a mapping of settings at the top level")
    unknown = sorted(set(raw) - known)
    if unknown:
        raise error(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return raw


def load_config(path: str | Path) -> NightlyConfig:
    path = Path(path).resolve()
    where = f"nightly config {path}"
    raw = read_settings(path, where=where, example="nightly.example.yaml", known=KNOWN_KEYS, error=NightlyConfigError)

    def str_list(key: str, required: bool) -> list[str]:
        value = raw.get(key)
        if value is None:
            if required:
                raise NightlyConfigError(f"{where}: field '{key}' is required (a list)")
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise NightlyConfigError(f"{where}: field '{key}' must be a list of strings, got {value!r}")
        return value

    def directory(key: str, must_exist: bool) -> Path | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise NightlyConfigError(f"{where}: field '{key}' must be a path, got {value!r}")
        p = (path.parent / os.path.expandvars(os.path.expanduser(value))).resolve()
        if must_exist and not p.is_dir():
            raise NightlyConfigError(f"{where}: field '{key}': {p} is not a directory (fix the path or remove the field)")
        return p

    suites = str_list("suites", required=True)
    if not suites:
        raise NightlyConfigError(f"{where}: field 'suites' is empty; list at least one suite folder or test file")
    for s in suites:
        if not (path.parent / s.split("::")[0]).exists():
            raise NightlyConfigError(f"{where}: field 'suites': {s} does not exist under {path.parent}")
    require = str_list("require", required=False)
    bad = [h for h in require if h not in HARDWARE]
    if bad:
        raise NightlyConfigError(f"{where}: field 'require': unknown hardware {', '.join(bad)}; known: {', '.join(HARDWARE)}")
    workers = raw.get("workers")
    if workers is not None and not (workers == "auto" or (isinstance(workers, int) and not isinstance(workers, bool)
                                                          and workers >= 0)):
        raise NightlyConfigError(f"{where}: field 'workers' must be 'auto' or a whole number, got {workers!r}")
    single = raw.get("single_file", False)
    if not isinstance(single, bool):
        raise NightlyConfigError(f"{where}: field 'single_file' must be true or false, got {single!r}")
    require_figures = raw.get("require_figures", False)
    if not isinstance(require_figures, bool):
        raise NightlyConfigError(f"{where}: field 'require_figures' must be true or false, got {require_figures!r}")
    compare_fail = raw.get("compare_fail")
    if compare_fail is not None:
        from srharness.report.history import CompareError, parse_compare_rules
        try:
            parse_compare_rules(compare_fail)
        except CompareError as exc:
            raise NightlyConfigError(f"{where}: field 'compare_fail': {exc}") from None
    for key in ("markers", "keyword", "report_name"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise NightlyConfigError(f"{where}: field '{key}' must be a string, got {raw[key]!r}")
    return NightlyConfig(
        path=path, suites=suites, require=require, markers=raw.get("markers"), keyword=raw.get("keyword"),
        data_dir=directory("data_dir", True), weights_dir=directory("weights_dir", True),
        golden_dir=directory("golden_dir", True), out_dir=directory("out_dir", False) or (path.parent / "out/nightly"),
        single_file=single, workers=None if workers in (None, 0) else str(workers),
        report_name=raw.get("report_name") or "srharness nightly", pytest_args=str_list("pytest_args", False),
        require_figures=require_figures, compare_fail=compare_fail)


# ---------------------------------------------------------------- Allure results side files
def _properties_escape(text: str, key: bool = False) -> str:
    text = str(text).replace("\\", "\\\\").replace("\n", "\\n")
    return re.sub(r"([=:\s])", r"\\\1", text) if key else text


def environment_properties(cfg: NightlyConfig) -> dict[str, str]:
    env = {"python": platform.python_version(), "platform": platform.platform(), "host": platform.node()}
    for lib in LIBRARIES:
        try:
            env[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            env[lib] = "not installed"
    for tool in VENDOR_TOOLS:
        found = shutil.which(tool)
        if found:
            env[f"tool.{tool}"] = found
    for hw in HARDWARE:
        d = detect(hw)
        env[f"device.{hw}"] = (", ".join(d.found) or "present") if d.present else f"absent ({d.reason})"
    env["git.commit"] = git_commit(cfg.root)
    env["required"] = ",".join(cfg.require) or "(none)"
    env["suites"] = " ".join(cfg.suites)
    if cfg.markers:
        env["markers"] = cfg.markers
    return env


def write_environment(results: Path, env: dict[str, str]) -> None:
    lines = [f"{_properties_escape(k, key=True)}={_properties_escape(v)}" for k, v in env.items()]
    (results / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_categories(results: Path) -> None:
    (results / "categories.json").write_text(json.dumps(CATEGORIES, indent=2), encoding="utf-8")


def write_failed_result(results: Path, name: str, message: str, trace: str = "", labels: dict[str, str] | None = None,
                        status: str = "failed") -> None:
    """An Allure result for something that failed outside any test (hardware missing, pytest unusable)."""
    import time
    now = int(time.time() * 1000)
    full_name = "srharness.nightly#" + re.sub(r"\W+", "_", name)
    result = {
        "uuid": str(uuid.uuid4()), "historyId": uuid.uuid5(uuid.NAMESPACE_URL, full_name).hex,
        "name": name, "fullName": full_name, "status": status,
        "statusDetails": {"message": message, "trace": trace}, "start": now, "stop": now, "stage": "finished",
        "labels": [{"name": k, "value": v} for k, v in {"parentSuite": "nightly", "suite": "hardware coverage",
                                                        "framework": "srharness", **(labels or {})}.items()],
    }
    (results / f"{result['uuid']}-result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")


def prepare_results_dir(results: Path) -> None:
    """A fresh results folder each night; refuses to empty a folder that is not Allure results."""
    if results.exists():
        allowed = re.compile(r"^([0-9a-f-]{36}-(result|container|attachment|globals)\.\w+|environment\.properties"
                             r"|categories\.json|executor\.json|history|pytest-output\.txt|allurerc\.json)$")
        strangers = [p.name for p in results.iterdir() if not allowed.match(p.name)]
        if strangers:
            raise NightlyConfigError(f"{results} holds files that are not Allure results ({', '.join(strangers[:5])}); "
                                     "point out_dir at a folder of its own")
        shutil.rmtree(results)
    results.mkdir(parents=True)


# ---------------------------------------------------------------- pytest
def pytest_command(cfg: NightlyConfig) -> list[str]:
    cmd = [sys.executable, "-m", "pytest", *cfg.suites, f"--alluredir={cfg.results_dir}",
           f"--sr-summary-json={cfg.summary_json}", "-p", "no:cacheprovider"]
    if cfg.require:
        cmd.append(f"--sr-require={','.join(cfg.require)}")
    if cfg.markers:
        cmd += ["-m", cfg.markers]
    if cfg.keyword:
        cmd += ["-k", cfg.keyword]
    for flag, value in (("--sr-data-dir", cfg.data_dir), ("--sr-weights-dir", cfg.weights_dir),
                        ("--sr-golden-dir", cfg.golden_dir)):
        if value is not None:
            cmd.append(f"{flag}={value}")
    if cfg.workers:
        cmd += ["-n", cfg.workers]
    # every run archived with its identity; compared with the previous one on this host and hardware
    cmd.append(f"--sr-history-dir={cfg.history_dir}")
    if cfg.compare_fail:
        cmd.append(f"--sr-compare-fail={cfg.compare_fail}")
    if cfg.require_figures:
        cmd.append("--sr-require-figures")
    return cmd + cfg.pytest_args


def run_pytest(cfg: NightlyConfig, cmd: list[str], log_path: Path) -> tuple[int, str]:
    """Run pytest, echo its output live, keep all of it in `log_path`; returns (exit code, output)."""
    print("srharness nightly: " + " ".join(cmd), file=sys.stderr if _quiet_stdout else sys.stdout, flush=True)
    env = dict(os.environ)
    for name in ("SRHARNESS_REQUIRE", "SRHARNESS_SUMMARY_JSON", "SRHARNESS_HISTORY_DIR", "SRHARNESS_COMPARE_FAIL",
                 "SRHARNESS_REQUIRE_FIGURES"):
        env.pop(name, None)  # the config decides these, not the caller's shell
    chunks = []
    with subprocess.Popen(cmd, cwd=cfg.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            (sys.stderr if _quiet_stdout else sys.stdout).write(line)
            chunks.append(line)
        rc = proc.wait()
    output = "".join(chunks)
    log_path.write_text(output, encoding="utf-8")
    return rc, output


# ---------------------------------------------------------------- report generation
@dataclass
class Generator:
    command: list[str]
    major: int            # 2 or 3


def find_generator() -> Generator | None:
    candidates = [os.environ.get(ALLURE_ENV), shutil.which("allure"),
                  str(Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "allure")]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            try:
                version = subprocess.run([c, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                continue
            m = re.search(r"(\d+)\.\d+", version)
            if m:
                return Generator([c], int(m.group(1)))
    return None


ANALYTICS_SCRIPT = re.compile(
    r"<script[^>]*googletagmanager[^>]*>\s*</script>\s*(<script>(?:(?!</script>).)*?gtag\((?:(?!</script>).)*?</script>)?",
    re.S | re.I)
ANALYTICS_MARKERS = ("googletagmanager", "gtag(", "google-analytics")


def strip_analytics(report_dir: Path) -> list[Path]:
    """Remove the analytics script Allure 3 embeds in its HTML; returns files that still hold one."""
    leftovers = []
    for page in report_dir.rglob("*.html"):
        text = page.read_text(encoding="utf-8", errors="surrogateescape")
        cleaned = ANALYTICS_SCRIPT.sub("", text)
        if cleaned != text:
            atomic_write_text(page, cleaned, errors="surrogateescape")
        if any(m in cleaned for m in ANALYTICS_MARKERS):
            leftovers.append(page)
    return leftovers


# Allure 3's Graphs section without its "Current status" pie: the pie divides passed by all results
# (skipped and XFAIL included) while the header ring divides by passed + failed + broken, so the
# same run read 90.9% in one and 66.67% in the other. The ring stays the one success rate; the
# figures judged / selected are on the first page.
REPORT_CHARTS = [
    {"type": "statusDynamics", "title": "Status dynamics"},
    {"type": "testResultSeverities", "title": "Test results by status", "levels": ["normal"],
     "statuses": ["passed", "failed", "broken", "skipped", "unknown"], "includeUnset": True},
    {"type": "statusTransitions", "title": "Status transitions"},
    {"type": "stabilityDistribution", "title": "Stability by model", "skipStatuses": ["skipped", "unknown"],
     "threshold": 90, "groupBy": "epic"},
    {"type": "durations", "title": "Durations histogram", "groupBy": "none"},
    {"type": "durationDynamics", "title": "Durations dynamics"},
]


def generate_report(cfg: NightlyConfig, gen: Generator) -> None:
    """Results + carried history -> HTML report in cfg.report_dir; history kept in cfg.history_dir."""
    results, report, history = cfg.results_dir, cfg.report_dir, cfg.history_dir
    history.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".allure-report-", dir=cfg.out_dir))
    env = dict(os.environ, ALLURE_NO_ANALYTICS="true")
    try:
        if gen.major >= 3:
            rc_file = staging.parent / ".allurerc.json"
            rc_file.write_text(json.dumps({
                "name": cfg.report_name, "output": str(staging), "historyPath": str(history / "history.jsonl"),
                "categories": categories_for_allure3(),
                "plugins": {"awesome": {"options": {"singleFile": cfg.single_file, "reportName": cfg.report_name,
                                                    "groupBy": ["epic", "feature", "story"],
                                                    "charts": REPORT_CHARTS}}},
            }), encoding="utf-8")
            cmd = gen.command + ["generate", str(results), "--config", str(rc_file), "--output", str(staging)]
        else:
            if any(history.iterdir()):
                shutil.copytree(history, results / "history", dirs_exist_ok=True)
            cmd = gen.command + ["generate", str(results), "--clean", "-o", str(staging)]
            if cfg.single_file:
                cmd.append("--single-file")
        say("srharness nightly: " + " ".join(cmd))
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"allure generate failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
        if gen.major < 3 and (staging / "history").is_dir():
            shutil.copytree(staging / "history", history, dirs_exist_ok=True)
        leftovers = strip_analytics(staging)
        if leftovers:
            raise RuntimeError(f"analytics script still present in {', '.join(map(str, leftovers))}")
        if gen.major >= 3:
            open_matrix_first(staging)
        staging.chmod(0o755)  # mkdtemp makes it private; a report is for reading
        if report.exists():
            shutil.rmtree(report)
        os.replace(staging, report)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


# ---------------------------------------------------------------- the run
def run_nightly(cfg: NightlyConfig, generate: bool = True, json_output: bool = False) -> int:
    global _quiet_stdout
    _quiet_stdout = json_output
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


# ---------------------------------------------------------------- the report's first page
MATRIX_PAGE = "conformance-matrix.html"
MATRIX_ATTACHMENT = "Conformance matrix and coverage"
VERDICT_TABLE_ATTACHMENT = "measured vs golden (table)"   # srharness.report.attach_verdict_table
TREND_RUNS = 20


def write_matrix_page(cfg: NightlyConfig, summary: dict[str, Any]) -> Path:
    """The conformance matrix, the coverage account, the changes since the previous run and the
    trends over the archived runs of this host: one HTML page, beside the summary and as the
    Allure global attachment the report opens on (with a global error per failure of the run)."""
    from srharness.report import history, page
    ident = summary.get("identity", {})
    runs = [r for _, r in history.archived_runs(cfg.history_dir)
            if r.get("identity", {}).get("host") == ident.get("host")
            and r.get("identity", {}).get("hardware_key") == ident.get("hardware_key")][-TREND_RUNS:]
    text = page.matrix_page_html(summary, compare=summary.get("compare"), trend=page.trend_png(runs),
                                 runs_in_history=len(runs))
    out = cfg.out_dir / MATRIX_PAGE
    atomic_write_text(out, text)
    source = f"{uuid.uuid4()}-attachment.html"
    (cfg.results_dir / source).write_text(text, encoding="utf-8")
    # Allure's global errors are the run's failures only: a figure not judged is a legitimate state
    # (its own "Not judged" category and the coverage account), an error only under require_figures.
    errors = [{"message": f} for f in summary.get("failures", [])]
    if (summary.get("require_figures") or {}).get("required"):
        errors += [{"message": f"not judged: {d['golden_id'] or d['figure_key']}: {d['reason']}"}
                   for d in summary.get("not_judged", [])]
    globals_doc = {"attachments": [{"name": MATRIX_ATTACHMENT, "type": "text/html", "source": source}],
                   "errors": errors}
    (cfg.results_dir / f"{uuid.uuid4()}-globals.json").write_text(json.dumps(globals_doc, indent=1), encoding="utf-8")
    return out


# Opens the report on the matrix: with no route in the address (index.html#/ is the results tree), go to the global attachments and
# expand the matrix (Allure 3's awesome report has no setting for its landing tab). HTML attachment
# previews (the matrix, verdict tables, protocol conventions) are sized to their content, not a
# fixed box a few rows high.
OPEN_MATRIX_SCRIPT = """<style id="srharness-report-style">[data-testid="html-attachment-preview"]{max-height:none!important;height:auto!important}
[data-testid="html-attachment-preview"] iframe{min-height:60px;max-height:none!important}</style>
<script id="srharness-open-matrix">(function(){
function fit(f){if(f.dataset.srFit)return;f.dataset.srFit="1";
try{var d=f.contentDocument;if(d&&d.body&&d.body.childElementCount){f.style.height=(d.documentElement.scrollHeight+24)+"px";return;}}catch(e){}
/* the preview is an opaque-origin blob: read the height the page declares for itself */
fetch(f.src).then(function(r){return r.text();}).then(function(t){var m=/name=["']srharness-height["'] content=["'](\\d+)/.exec(t);
f.style.height=Math.round(m?Math.min(+m[1],innerHeight*0.85):innerHeight*0.6)+"px";}).catch(function(){f.style.height="60vh";});}
function fitAll(){document.querySelectorAll('[data-testid="html-attachment-preview"] iframe').forEach(fit);}
new MutationObserver(fitAll).observe(document.documentElement,{childList:true,subtree:true});
/* open the first thing to read: the matrix on the first page, the verdict table on a result's page */
var handled={};function open(label){var b=Array.prototype.find.call(document.querySelectorAll("button"),
function(e){return e.textContent.trim().slice(-label.length)===label;});if(!b)return false;
setTimeout(function(){if(!document.querySelector('[data-testid="html-attachment-preview"]'))b.click();},400);return true;}
setInterval(function(){var h=location.hash;if(handled[h])return;
if(h==="#/globalAttachments"){if(open(%s))handled[h]=1;}
else if(/^#\\/[0-9a-f]{32}(\\/overview)?$/.test(h)){if(open(%s))handled[h]=1;}},200);
if(!location.hash||location.hash==="#")location.hash="#/globalAttachments";  /* index.html#/: the results tree */
})();</script>"""


def open_matrix_first(report_dir: Path) -> None:
    index = report_dir / "index.html"
    if not index.is_file():
        return
    text = index.read_text(encoding="utf-8", errors="surrogateescape")
    if "srharness-open-matrix" in text:
        return
    script = OPEN_MATRIX_SCRIPT % (json.dumps(MATRIX_ATTACHMENT), json.dumps(VERDICT_TABLE_ATTACHMENT))
    text = text.replace("</body>", script + "</body>", 1) if "</body>" in text else text + script
    atomic_write_text(index, text, errors="surrogateescape")


def _load_summary(path: Path) -> dict[str, Any]:
    if not path.is_file():  # pytest never reached its terminal summary (usage error)
        return {"schema": "srharness-summary/2", "tests": {}, "figures": {}, "matrix": {}, "cells": [],
                "not_judged": [], "verdicts": [], "failures": []}
    return json.loads(path.read_text(encoding="utf-8"))
