"""The srharness pytest plugin: options, hardware markers, fail-closed hardware coverage,
shared fixtures, and the collection of verdict records.

Loaded by the root conftest.py (`pytest_plugins = ("srharness.plugin",)`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from srharness.hardware import HARDWARE, detect
from srharness.records import Verdict

CHECK_MARKERS = {
    "export": "export conformance: torch -> ONNX, opset, graph checks, equivalence",
    "accuracy": "accuracy conformance: metric vs golden under a guide's protocol",
    "perf": "performance: measured figures and floors vs baselines",
    "training": "training conformance: convergence, multi-process agreement, throughput",
    "slow": "takes more than a few seconds even on small inputs",
}
HARDWARE_MARKERS = {
    "cpu": "runs on the host CPU (torch, onnxruntime); needs no card",
    "cuda": "needs an NVIDIA GPU (torch.cuda); TensorRT checks also need trtexec",
    "ascend": "needs a Huawei Ascend NPU (npu-smi, or the acl / ais_bench packages)",
    "vacc": "needs a VastAI card (vamp / vasmi, or the vaststreamx runtime)",
}
# Options and their environment-variable twins.
OPTIONS = {
    "sr_data_dir": ("--sr-data-dir", "SRHARNESS_DATA_DIR",
                    "folder with the shared data (set5/, weights/); without it the embedded images are used"),
    "sr_weights_dir": ("--sr-weights-dir", "SRHARNESS_WEIGHTS_DIR",
                       "folder with checkpoints (<model>/*.pth); default: <data dir>/weights"),
    "sr_golden_dir": ("--sr-golden-dir", "SRHARNESS_GOLDEN_DIR",
                      "folder with golden YAML files; default: golden/ of the project"),
    "sr_require": ("--sr-require", "SRHARNESS_REQUIRE",
                   "comma-separated hardware that must be present (cpu,cuda,ascend,vacc): fail, never skip"),
}
VERDICT_PROPERTY = "sr_verdict"
_verdicts_key = pytest.StashKey[list]()
_required_seen_key = pytest.StashKey[dict]()


def pytest_addoption(parser):
    group = parser.getgroup("srharness")
    for dest, (flag, env, help_) in OPTIONS.items():
        group.addoption(flag, dest=dest, default=None, help=f"{help_} [env {env}]")


def get_option(config, dest: str) -> str | None:
    value = config.getoption(dest, default=None)
    if value is None:
        value = os.environ.get(OPTIONS[dest][1]) or None
    return value


def required_hardware(config) -> list[str]:
    raw = get_option(config, "sr_require") or ""
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in HARDWARE]
    if unknown:
        raise pytest.UsageError(f"--sr-require: unknown hardware {', '.join(unknown)}; known: {', '.join(HARDWARE)}")
    return names


def pytest_configure(config):
    for name, desc in {**HARDWARE_MARKERS, **CHECK_MARKERS}.items():
        config.addinivalue_line("markers", f"{name}: {desc}")
    config.stash[_verdicts_key] = []
    config.stash[_required_seen_key] = {}
    config.pluginmanager.register(VerdictCollector(config), "srharness-verdicts")
    required = required_hardware(config)
    missing = [detect(n) for n in required if not detect(n).present]
    if missing:
        lines = "\n".join(f"  - {d.reason}" for d in missing)
        raise pytest.UsageError(
            f"required hardware missing, nothing was run:\n{lines}\n"
            "(--sr-require / SRHARNESS_REQUIRE lists hardware this run must cover)")
    for name in ("sr_data_dir", "sr_weights_dir", "sr_golden_dir"):
        value = get_option(config, name)
        if value is not None and not Path(value).is_dir():
            flag, env, _ = OPTIONS[name]
            raise pytest.UsageError(f"{flag} / {env}: {value} is not a directory")


def _hardware_markers(item) -> list[str]:
    return [m.name for m in item.iter_markers() if m.name in HARDWARE]


def pytest_runtest_setup(item):
    for name in _hardware_markers(item):
        d = detect(name)
        if not d.present:
            pytest.skip(d.reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    required = set(required_hardware(item.config)) & set(_hardware_markers(item))
    if not required:
        return
    seen = item.config.stash[_required_seen_key]
    if report.when == "call" or (report.when == "setup" and not report.passed):
        for hw in required:
            seen.setdefault(hw, []).append(report.outcome)
    # Under --sr-require a skip is a failure: the run was told this hardware must be covered.
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"required hardware test skipped ({', '.join(sorted(required))}): {reason}"


def pytest_collection_modifyitems(session, config, items):
    required = required_hardware(config)
    covered = {hw for item in items for hw in _hardware_markers(item)}
    config.stash[_required_seen_key]["_uncovered"] = [hw for hw in required if hw not in covered]


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if hasattr(config, "workerinput"):
        return
    uncovered = config.stash[_required_seen_key].get("_uncovered", [])
    if uncovered and session.exitstatus in (0, 5):
        session.exitstatus = 1
    config.stash[_required_seen_key]["_uncovered_final"] = uncovered


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    uncovered = config.stash[_required_seen_key].get("_uncovered_final", [])
    if uncovered:
        terminalreporter.write_line(
            f"srharness: FAILED: required hardware {', '.join(uncovered)} had no test selected in this run",
            red=True, bold=True)


# ---------------------------------------------------------------- verdict records
class VerdictCollector:
    """Collects verdicts on the controller; xdist ships user_properties from the workers."""

    def __init__(self, config):
        self.config = config

    def pytest_runtest_logreport(self, report):
        for name, value in report.user_properties:
            if name == VERDICT_PROPERTY and report.when == "call":
                self.config.stash[_verdicts_key].append(Verdict.from_dict(json.loads(value)))


def collected_verdicts(config) -> list[Verdict]:
    return list(config.stash[_verdicts_key])


@pytest.fixture
def sr_record(request):
    """Record a `Verdict` for the summary and the report: `sr_record(Verdict(...))`."""
    def record(verdict: Verdict) -> Verdict:
        request.node.user_properties.append((VERDICT_PROPERTY, verdict.to_json()))
        return verdict
    return record


# ---------------------------------------------------------------- data, weights, goldens
@pytest.fixture(scope="session")
def sr_data_dir(pytestconfig) -> Path | None:
    value = get_option(pytestconfig, "sr_data_dir")
    return Path(value).resolve() if value else None


@pytest.fixture(scope="session")
def sr_weights_dir(pytestconfig, sr_data_dir) -> Path | None:
    value = get_option(pytestconfig, "sr_weights_dir")
    if value:
        return Path(value).resolve()
    if sr_data_dir is not None and (sr_data_dir / "weights").is_dir():
        return sr_data_dir / "weights"
    return None


@pytest.fixture(scope="session")
def sr_golden_dir(pytestconfig) -> Path:
    value = get_option(pytestconfig, "sr_golden_dir")
    return Path(value).resolve() if value else Path(pytestconfig.rootpath) / "golden"
