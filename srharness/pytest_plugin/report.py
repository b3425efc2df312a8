"""The report side of the pytest layer: after each test its verdicts become Allure evidence and
pytest's xfail semantics; at the end of the run the matrix, the summary JSON, the history archive
and the regression rule. The Allure API and the rendering it calls live in srharness.report.

Registered by srharness.plugin (and named by the `srharness.report` pytest11 entry point), so
`-p no:srharness.report` still turns it off.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import pytest

from srharness import report, settings
from srharness.errors import OutputPathError
from srharness.records import Verdict
from srharness.pytest_plugin import isolation
from srharness.report import (CHECK_KINDS, HARDWARE_NAMES, check_writable, coverage_account, history,
                              summary_document, terminal, verdict_title, verdicts_from_summary, write_json_atomic)

SUMMARY_JSON_ENV = "SRHARNESS_SUMMARY_JSON"    # its flag is registered with the others (srharness.settings)


def verdicts_of(item) -> list[Verdict]:
    from srharness.records import VERDICT_PROPERTY
    return [Verdict.from_dict(json.loads(value)) for name, value in item.user_properties if name == VERDICT_PROPERTY]


def _test_labels(item) -> dict[str, str]:
    """Labels every test gets from its markers and its check class (model, scale)."""
    names = {m.name for m in item.iter_markers()}
    labels = {}
    model = getattr(item.cls, "model", None) if getattr(item, "cls", None) else None
    if model:
        labels["model"] = model
    check = next((c for c in CHECK_KINDS if c in names), None)
    if check:
        labels["check"] = check
    hardware = next((h for h in HARDWARE_NAMES if h in names), None)
    if hardware:
        labels["hardware"] = hardware
    return labels


# ---------------------------------------------------------------- xfail semantics from the verdicts
def _apply_expected_failures(report, verdicts: Sequence[Verdict]) -> None:
    """pytest's xfail semantics for figures the guide itself shows failing: a test whose figures end
    as expected-fail is XFAIL (skipped with the reason, as `pytest.xfail` gives), one whose expected
    failure passed is a strict XPASS: a failed test, a changed finding."""
    if hasattr(report, "wasxfail"):
        return   # the check used pytest.xfail / the xfail marker itself
    xpass = [v for v in verdicts if v.verdict == "xpass"]
    if xpass:
        if report.passed:
            report.outcome = "failed"
            report.longrepr = ("[XPASS(strict)] changed finding: " + "; ".join(verdict_title(v) for v in xpass)
                               + " passes where the guide's own figure fails")
        return
    expected = [v for v in verdicts if v.verdict == "expected-fail"]
    if expected and report.passed and not any(v.verdict == "fail" for v in verdicts):
        report.outcome = "skipped"
        report.wasxfail = "expected failure, as the guide's own figure: " + "; ".join(
            verdict_title(v) for v in expected)


# ---------------------------------------------------------------- pytest hooks
def _option(config, dest: str):
    from srharness import settings
    if dest not in settings.pytest_options():
        return None
    return settings.pytest_value(config, dest)


def _truthy(value) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on")


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    report._active_stack.append((report._active, report._listener))
    report._listener = config.pluginmanager.getplugin("allure_listener")
    report._active = report._listener is not None
    rules = _option(config, "sr_compare_fail")
    if rules and not hasattr(config, "workerinput"):
        try:
            history.parse_compare_rules(rules)
        except history.CompareError as exc:
            raise pytest.UsageError(f"--sr-compare-fail: {exc}") from None
        if not _option(config, "sr_history_dir"):
            raise pytest.UsageError("--sr-compare-fail needs the runs to compare with: give --sr-history-dir DIR "
                                    "(env SRHARNESS_HISTORY_DIR), where each run's summary is archived")
    if not hasattr(config, "workerinput"):
        try:        # refused now, not after an hour of tests
            summary = config.getoption("sr_summary_json", default=None) or settings.env(SUMMARY_JSON_ENV)
            if summary:
                check_writable(summary, "--sr-summary-json", directory=False)
            if _option(config, "sr_history_dir"):
                check_writable(_option(config, "sr_history_dir"), "--sr-history-dir", directory=True)
        except OutputPathError as exc:
            raise pytest.UsageError(str(exc)) from None
    isolation.configure(config)


def pytest_unconfigure(config):
    report._active, report._listener = report._active_stack.pop() if report._active_stack else (False, None)


LABELS_PROPERTY = "sr_test_labels"


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_makereport(item, call):
    if call.when == "call":
        isolation.mark_concurrent_figures(item)
    if not any(name == LABELS_PROPERTY for name, _ in item.user_properties):
        # model / hardware / check of the test, so that a skipped test lands in its matrix cell
        item.user_properties.append((LABELS_PROPERTY, json.dumps(_test_labels(item))))
    outcome = yield
    if call.when != "call":
        return
    verdicts = verdicts_of(item)
    _apply_expected_failures(outcome.get_result(), verdicts)
    if report._active:
        report.apply_evidence(_test_labels(item), verdicts)


_run_key = pytest.StashKey[dict]()


def _workers(config) -> int:
    """xdist workers of this run (0: no xdist), for the run's identity."""
    value = getattr(config.option, "numprocesses", None) or 0
    if value in ("auto", "logical"):
        return os.cpu_count() or 1
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """On the controller: the run's identity, the required-figures check and the regression rule,
    which can turn a green run red."""
    config = session.config
    if hasattr(config, "workerinput"):
        return
    from srharness.pytest_plugin.verdicts import collected_verdicts
    verdicts = collected_verdicts(config)
    state: dict[str, Any] = {"identity": history.run_identity(Path(config.rootpath), workers=_workers(config)),
                             "failures": []}
    if _truthy(_option(config, "sr_require_figures")):
        missing = coverage_account(verdicts)
        state["require_figures"] = {"required": True, "missing": len(missing)}
        if missing:
            state["failures"].append(f"{len(missing)} required golden figure(s) not judged (--sr-require-figures)")
    history_dir = _option(config, "sr_history_dir")
    rules_text = _option(config, "sr_compare_fail")
    if history_dir:
        prev = history.previous_run(Path(history_dir), state["identity"])
        if prev is not None:
            rules = history.parse_compare_rules(rules_text) if rules_text else []
            try:
                rows = history.compare_verdicts(verdicts_from_summary(prev[1]), verdicts, rules)
            except history.CompareError as exc:
                rows = []
                state["failures"].append(f"regression rule: {exc}")
            state["compare"] = {"base_run": prev[0].stem, "rule": rules_text, "rows": rows}
            for row in history.regressions(rows):
                state["failures"].append("regression: " + history.describe_change(row))
        else:
            state["compare"] = None
    config.stash[_run_key] = state
    if state["failures"] and session.exitstatus in (0, 5):
        session.exitstatus = 1


def _skipped_tests(stats) -> list[dict[str, str]]:
    """Skipped tests that left no verdict (a figure not judged is in the coverage account already)."""
    from srharness.records import VERDICT_PROPERTY
    out = []
    for rep in stats.get("skipped", []):
        if hasattr(rep, "wasxfail") or any(n == VERDICT_PROPERTY for n, _ in getattr(rep, "user_properties", [])):
            continue
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) and len(rep.longrepr) == 3 else str(rep.longrepr)
        labels = next((json.loads(v) for n, v in getattr(rep, "user_properties", []) if n == LABELS_PROPERTY), {})
        out.append({"test": rep.nodeid, "reason": reason.removeprefix("Skipped: "), **labels})
    return out


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from srharness.pytest_plugin.verdicts import collected_verdicts
    verdicts = collected_verdicts(config)
    state = config.stash.get(_run_key, {}) if hasattr(config, "stash") else {}
    width = 120   # fits a 120-column terminal; wider ones get the same, narrower ones wrap
    verbose = config.getoption("verbose", 0) > 0
    skipped = _skipped_tests(terminalreporter.stats)
    if verdicts or skipped:
        terminalreporter.section("srharness summary: model x hardware x check")
        for line in terminal.render(terminal.summary_tables(verdicts, verbose=verbose, skipped=skipped), width=width):
            terminalreporter.write_line(line)
    compare = state.get("compare")
    if compare:
        changes = [r for r in compare["rows"] if r["status"] != "unchanged"]
        terminalreporter.write_line(f"srharness: compared with {compare['base_run']} (rule: {compare['rule'] or 'none'}): "
                                    f"{len(history.regressions(compare['rows']))} regression(s), "
                                    f"{len(changes)} change(s) of {len(compare['rows'])} figures")
        for row in changes[:40]:
            terminalreporter.write_line("  " + history.describe_change(row), red=row["status"] == "regressed")
    for failure in state.get("failures", []):
        terminalreporter.write_line(f"srharness: FAILED: {failure}", red=True, bold=True)
    from srharness.registry import replacements
    for line in replacements():
        terminalreporter.write_line(f"srharness: WARNING: {line}", yellow=True, bold=True)
    stats = terminalreporter.stats
    outcomes = {k: len(stats.get(k, [])) for k in ("passed", "failed", "skipped", "error", "xfailed", "xpassed")}
    session = getattr(terminalreporter, "_session", None)
    status = session.exitstatus if session is not None else exitstatus
    sections = report.sections_of(getattr(rep, "user_properties", ()) for reps in stats.values() for rep in reps)
    summary = summary_document(verdicts, outcomes, int(status), identity=state.get("identity"), skipped=skipped,
                               sections=sections)
    summary["compare"] = compare
    summary["require_figures"] = state.get("require_figures", {"required": False})
    summary["failures"] = state.get("failures", [])
    path = config.getoption("sr_summary_json", default=None) or settings.env(SUMMARY_JSON_ENV)
    if path:
        try:
            write_json_atomic(Path(path), summary)
        except (OSError, OutputPathError) as exc:   # a full disk, a device in the way: one line, the run fails
            from srharness.cli import os_error_message
            why = os_error_message(exc) if isinstance(exc, OSError) else str(exc)
            terminalreporter.write_line(f"srharness: FAILED: summary JSON not written: {why}", red=True, bold=True)
            if session is not None:
                session.exitstatus = max(int(session.exitstatus), 1)
        else:
            terminalreporter.write_line(f"srharness: summary JSON written to {path}")
    history_dir = _option(config, "sr_history_dir")
    if history_dir and state.get("identity") and not hasattr(config, "workerinput"):
        archived = history.archive_summary(summary, Path(history_dir))
        terminalreporter.write_line(f"srharness: run archived as {archived}")
