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
                   "comma-separated hardware this run must cover (cpu,cuda,ascend,vacc): missing hardware stops the "
                   "run before anything runs, and a required hardware with no passing test fails it"),
}
VERDICT_PROPERTY = "sr_verdict"
_verdicts_key = pytest.StashKey[list]()


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
    config.pluginmanager.register(VerdictCollector(config), "srharness-verdicts")
    _share_cores_between_workers(config)
    required = required_hardware(config)
    if required and not hasattr(config, "workerinput"):
        config.pluginmanager.register(RequiredHardwareCoverage(required), "srharness-required-hardware")
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


def _share_cores_between_workers(config) -> None:
    """Under pytest-xdist every worker would start one torch thread per core: with N workers
    that oversubscribes the CPU N times (RDN's forward ran 14x slower that way on 2 cores).
    Give each worker its share. Perf checks record the thread count they measured with."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    if not hasattr(config, "workerinput") or workers < 2 or "OMP_NUM_THREADS" in os.environ:
        return
    import torch
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def _hardware_markers(item) -> list[str]:
    return [m.name for m in item.iter_markers() if m.name in HARDWARE]


def pytest_runtest_setup(item):
    for name in _hardware_markers(item):
        d = detect(name)
        if not d.present:
            pytest.skip(d.reason)


class RequiredHardwareCoverage:
    """Fail-closed coverage for --sr-require, counted on the controller (xdist sends it every
    report): a required hardware none of whose tests passed makes the run fail, whether its
    tests all skipped (e.g. no weights for any of them) or none was selected at all. Missing
    hardware itself never gets this far: pytest_configure stops the run first."""

    def __init__(self, required: list[str]):
        self.required = required
        self.outcomes: dict[str, dict[str, int]] = {hw: {"passed": 0, "failed": 0, "skipped": 0} for hw in required}

    def pytest_runtest_logreport(self, report):
        for hw in self.required:
            if hw not in report.keywords:
                continue
            if report.when == "call" or (report.when == "setup" and not report.passed):
                self.outcomes[hw][report.outcome] += 1

    def uncovered(self) -> dict[str, dict[str, int]]:
        return {hw: n for hw, n in self.outcomes.items() if n["passed"] == 0}

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        if self.uncovered() and session.exitstatus in (0, 5):
            session.exitstatus = 1

    def pytest_terminal_summary(self, terminalreporter):
        for hw, n in self.uncovered().items():
            what = ("had no test selected in this run" if not sum(n.values()) else
                    f"had no passing test ({n['skipped']} skipped, {n['failed']} failed)")
            terminalreporter.write_line(f"srharness: FAILED: required hardware {hw} {what}", red=True, bold=True)


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


# ---- models and exports (session cache)
def resolve_weights(weights, weights_dir, model: str, scale: int) -> Path | None:
    """None: random init; "auto": the official checkpoint in the weights dir if there, else None;
    anything else: a checkpoint path."""
    if weights is None:
        return None
    if weights == "auto":
        from srharness.checkpoints import find_weights
        return find_weights(weights_dir, model, scale)
    return Path(weights)


@pytest.fixture(scope="session")
def sr_model(sr_weights_dir):
    """Factory `sr_model(name, scale=2, weights=None) -> nn.Module` (eval mode, cached per session:
    do not modify the module). weights=None: deterministic random init; "auto": the official
    checkpoint from the weights dir when present, else random; a path: that checkpoint. The
    module's `weights_source` says which it got."""
    cache: dict = {}

    def get(name: str, scale: int = 2, weights=None):
        path = resolve_weights(weights, sr_weights_dir, name, scale)
        key = (name, scale, path)
        if key not in cache:
            from srharness.checkpoints import load_into
            from srharness.models import build_model
            model = load_into(name, scale, path) if path else build_model(name, scale)
            model.weights_source = str(path) if path else "random init (seed 0)"
            cache[key] = model
        return cache[key]
    return get


EXPORT_CACHE_ENV = "SRHARNESS_EXPORT_CACHE"
# What an export depends on besides its arguments: a change to any of these files or versions
# gives new cache keys, so a cached file is always what this code would export now.
EXPORT_SOURCES = ("export.py", "checkpoints.py", "models/*.py")


def export_cache_dir(config) -> Path | None:
    """Exports persist across sessions and xdist workers in <root>/.srharness-cache/exports
    (SRHARNESS_EXPORT_CACHE=DIR elsewhere, =off for none: every session then exports afresh)."""
    value = os.environ.get(EXPORT_CACHE_ENV, "")
    if value.lower() in ("off", "0", "no", "false"):
        return None
    return Path(value) if value else Path(config.rootpath) / ".srharness-cache" / "exports"


def _export_key(args: dict, weights: Path | None) -> str:
    import hashlib
    import onnx
    import torch
    from srharness.checkpoints import sha256_file
    h = hashlib.sha256(json.dumps({**args, "torch": torch.__version__, "onnx": onnx.__version__,
                                   "weights": sha256_file(weights) if weights else "seed 0"},
                                  sort_keys=True).encode())
    package = Path(__file__).parent
    for pattern in EXPORT_SOURCES:
        for source in sorted(package.glob(pattern)):
            h.update(source.read_bytes())
    return h.hexdigest()[:20]


@pytest.fixture(scope="session")
def sr_export(pytestconfig, sr_weights_dir, tmp_path_factory):
    """Factory `sr_export(name, scale=2, opset=None, exporter="legacy", shape=None, dynamic=False,
    weights=None) -> srharness.export.ExportResult`; arguments as `srharness.export.export_onnx`,
    weights as `sr_model`. Each export is made once: cached in memory for the session and on disk
    (see `export_cache_dir`) under a key of its arguments, the weights' sha256, the torch/onnx
    versions and the exporting source. `result.details["cache"]` says "hit" or "miss"."""
    cache: dict = {}
    folder = export_cache_dir(pytestconfig) or tmp_path_factory.mktemp("sr-exports")

    def get(name: str, scale: int = 2, opset: int | None = None, exporter: str = "legacy",
            shape: tuple[int, int] | None = None, dynamic: bool = False, weights=None):
        from srharness.export import describe_onnx, export_onnx
        from srharness.models import get_model_spec
        spec = get_model_spec(name)
        path = resolve_weights(weights, sr_weights_dir, name, scale)
        # defaults resolved first, so that equal exports asked for in different words are made once
        opset = spec.guide_opset if opset is None else opset
        shape = tuple(shape) if shape else tuple(spec.test_shape)
        args = dict(name=name, scale=scale, opset=opset, exporter=exporter, shape=list(shape), dynamic=dynamic)
        key = (name, scale, opset, exporter, shape, dynamic, path)
        if key not in cache:
            stem = "-".join(str(p) for p in (name, f"x{scale}", exporter, f"op{opset}", "x".join(map(str, shape)),
                                              "dyn" if dynamic else "static", "w" if path else "rand"))
            out = folder / f"{stem}-{_export_key(args, path)}.onnx"
            if out.is_file():
                result = describe_onnx(out, requested_opset=opset, exporter=exporter, model=name, scale=scale,
                                       dynamic=dynamic, shape=shape)
                result.details["cache"] = "hit"
            else:
                folder.mkdir(parents=True, exist_ok=True)
                for stale in folder.glob(f"{stem}-*.onnx"):  # made by other code or versions
                    if stale.name != out.name:  # another xdist worker may have just written `out`
                        stale.unlink(missing_ok=True)
                result = export_onnx(name, out, scale=scale, opset=opset, exporter=exporter, shape=shape,
                                     dynamic=dynamic, weights=path)
                result.details["cache"] = "miss"
            result.details["weights"] = str(path) if path else "random init (seed 0)"
            cache[key] = result
        return cache[key]
    return get
