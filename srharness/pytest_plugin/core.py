"""The srharness pytest plugin: options, hardware markers, fail-closed hardware coverage,
shared fixtures, and the collection of verdict records.

Loaded by pytest through srharness's `pytest11` entry point in any project where srharness is
installed, as `srharness.plugin` (the repository's own conftest.py names it too; both register it
as "srharness.plugin", so it is loaded once). It registers the report hooks
(srharness.pytest_plugin.report) beside it. Registered models, protocols, backends and hardware come in from the
`srharness.plugins` entry points, `--sr-plugin` / SRHARNESS_PLUGINS and the
`pytest_srharness_register` hook (srharness.registry).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from srharness import registry, settings
from srharness.errors import SrHarnessError
from srharness.hardware import HARDWARE, detect
from srharness.pytest_plugin.verdicts import VERDICTS_KEY as _verdicts_key
from srharness.pytest_plugin.verdicts import collected_verdicts  # noqa: F401  (also srharness.plugin.collected_verdicts)
from srharness.records import VERDICT_PROPERTY, Verdict  # VERDICT_PROPERTY: also srharness.plugin.VERDICT_PROPERTY

CHECK_MARKERS = {
    "export": "export conformance: torch -> ONNX, opset, graph checks, equivalence",
    "accuracy": "accuracy conformance: metric vs golden under a guide's protocol",
    "perf": "performance: measured figures and floors vs baselines",
    "training": "training conformance: convergence, multi-process agreement, throughput",
    "slow": "takes more than a few seconds even on small inputs",
    "zoo": "public SR architectures through spandrel (the srharness[zoo] extra; skipped without it)",
}
# Options and their environment-variable twins: srharness.settings (one table for pytest, CLI, nightly).
OPTIONS = settings.pytest_options()
REPORT_PLUGIN = "srharness.report"


def pytest_addhooks(pluginmanager):
    from srharness import hookspecs
    from srharness.pytest_plugin import report as report_hooks
    pluginmanager.add_hookspecs(hookspecs)
    # The report hooks come with this plugin, under their own name so `-p no:srharness.report` turns
    # them off; the pytest11 entry point registers them first when installed (then this is a no-op).
    if not pluginmanager.is_registered(report_hooks) and not pluginmanager.is_blocked(REPORT_PLUGIN):
        taken = pluginmanager.get_plugin(REPORT_PLUGIN) is not None    # an older install's hook-less module
        pluginmanager.register(report_hooks, report_hooks.__name__ if taken else REPORT_PLUGIN)


@pytest.hookimpl(wrapper=True, tryfirst=True)     # before capture & co. read the parsed options
def pytest_load_initial_conftests(early_config, parser, args):
    """`--sr-data-dir DIR` (a space, not `=`) must find the same rootdir and ini file as
    `--sr-data-dir=DIR`. pytest settles the rootdir before it loads plugins from entry points, when
    our options are still unknown, so it takes DIR for a test path (rootdir: a common ancestor of
    DIR and the project, no ini file, no golden/). Now that the options are known, settle it again
    from the real test paths, as pytest would have, ini file's addopts included."""
    from srharness.pytest_plugin import checkpoint
    checkpoint.add_suite_when_no_path(early_config, parser, args)   # --sr-weights FILE and no path
    _resettle_rootdir(early_config, parser, args)
    return (yield)


def _resettle_rootdir(config, parser, args: list[str]) -> None:
    import copy

    from _pytest.config.findpaths import determine_setup
    ns = config.known_args_namespace
    try:
        rootpath, inipath, inicfg, ignored = determine_setup(
            inifile=ns.inifilename, override_ini=ns.override_ini, args=ns.file_or_dir,
            rootdir_cmd_arg=ns.rootdir or None, invocation_dir=config.invocation_params.dir)
    except Exception:     # noqa: BLE001 - pytest's own answer stands when its internals differ
        return
    if (rootpath, inipath) == (config.rootpath, config.inipath):
        return
    # the confcutdir pytest derived from the wrong ini/rootdir is derived again below
    derived = ns.confcutdir == str(config.inipath.parent if config.inipath else config.rootpath)
    config._rootpath, config._inipath, config._inicfg = rootpath, inipath, inicfg
    config._ignored_config_files = ignored
    config._inicache.clear()
    parser.extra_info["rootdir"], parser.extra_info["inifile"] = str(rootpath), str(inipath)
    args[:] = config._validate_args(config.getini("addopts"), "via addopts config") + args
    config.known_args_namespace = parser.parse_known_args(args, namespace=copy.copy(config.option))
    if derived or config.known_args_namespace.confcutdir is None:
        config.known_args_namespace.confcutdir = str(inipath.parent if inipath else rootpath)


def pytest_addoption(parser):
    group = parser.getgroup("srharness")
    for dest, (flag, env, help_, *extra) in OPTIONS.items():
        group.addoption(flag, dest=dest, default=None, help=f"{help_} [env {env}]", **(extra[0] if extra else {}))


def get_option(config, dest: str) -> str | None:
    return settings.pytest_value(config, dest)


def required_hardware(config) -> list[str]:
    raw = get_option(config, "sr_require") or ""
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in HARDWARE]
    if unknown:
        raise pytest.UsageError(f"--sr-require: unknown hardware {', '.join(unknown)}; known: {', '.join(HARDWARE)}")
    return names


def load_registrations(config) -> None:
    """Entry points, SRHARNESS_PLUGINS (both also read by srharness.registry on first use),
    --sr-plugin modules (from the rootdir), then the pytest_srharness_register hook."""
    # the option's value without its env twin: load_plugins reads SRHARNESS_PLUGINS itself
    extra = [p.strip() for p in (config.getoption("sr_plugin", default=None) or "").split(",") if p.strip()]
    try:
        registry.load_plugins(extra, search_dir=Path(config.rootpath))
    except registry.RegistryError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.hook.pytest_srharness_register.call_historic(kwargs={"registry": registry})
    from srharness.checkpoints import allow_pickle_classes
    try:
        allow_pickle_classes(get_option(config, "sr_allow_pickle_class") or "")
    except ValueError as exc:
        raise pytest.UsageError(f"--sr-allow-pickle-class / SRHARNESS_ALLOW_PICKLE_CLASSES: {exc}") from None


def pytest_configure(config):
    try:
        _configure(config)
    except SrHarnessError as exc:     # a bad option, golden or plugin file: one line naming it, no traceback
        raise pytest.UsageError(str(exc)) from None


def _configure(config) -> None:
    from srharness.allocator import keep_freed_memory
    keep_freed_memory()                 # large arrays reuse freed memory, not fresh pages (srharness.allocator)
    load_registrations(config)
    for name in HARDWARE:
        config.addinivalue_line("markers", f"{name}: {HARDWARE[name].marker}")
    for name, desc in CHECK_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {desc}")
    config.stash[_verdicts_key] = []
    config.pluginmanager.register(VerdictCollector(config), "srharness-verdicts")
    _share_cores_between_workers(config)
    from srharness import schedule
    schedule.configure(config)          # xdist: longest tests first, by measured durations
    folder = export_cache_dir(config)
    if folder is not None:              # int8 variants calibrate once per machine (srharness.quantize)
        from srharness import quantize
        quantize.use_cache(folder / "calibration")
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
    from srharness.pytest_plugin import checkpoint
    checkpoint.configure(config)        # --sr-weights FILE: detected, registered, its suite collected
    from srharness.checks.hardware import check_shape_env
    check_shape_env()   # SRHARNESS_HW_SHAPE=bad stops the session here, not inside a fixture
    golden_dir = get_option(config, "sr_golden_dir")
    if golden_dir is not None and not hasattr(config, "workerinput"):
        from srharness.golden import GoldenError, load_goldens
        try:    # a broken golden file is one usage error naming it, not an error in every test
            load_goldens(golden_dir)
        except GoldenError as exc:
            raise pytest.UsageError(f"--sr-golden-dir / SRHARNESS_GOLDEN_DIR: {exc}") from None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that fails on a user-facing error (srharness.errors.SrHarnessError: a bad file, value
    or setting) reports its one-line message, not a traceback into srharness."""
    outcome = yield
    rep = outcome.get_result()
    if call.excinfo is not None and rep.failed and call.excinfo.errisinstance(SrHarnessError):
        rep.longrepr = f"{call.excinfo.typename}: {call.excinfo.value}"


def _share_cores_between_workers(config) -> None:
    """Under pytest-xdist every worker would start one torch thread and one onnxruntime thread per
    core: with N workers that oversubscribes the CPU N times (RDN's forward ran 14x slower that way
    on 2 cores). Give each worker its share. Perf checks record the thread count they measured with."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    if not hasattr(config, "workerinput") or workers < 2:
        return
    share = max(1, (os.cpu_count() or 1) // workers)
    from srharness.runners import ort_runner
    ort_runner.share_cores(share)
    if "OMP_NUM_THREADS" in os.environ:
        return
    import torch
    torch.set_num_threads(share)


def _hardware_markers(item) -> list[str]:
    return [m.name for m in item.iter_markers() if m.name in HARDWARE]


def pytest_runtest_setup(item):
    for name in _hardware_markers(item):
        d = detect(name)
        if not d.present:
            from srharness.checks.figures import record_not_run
            record_not_run(item, d.reason)      # a golden figure's item still ends in its verdict
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
            # call: every check; setup: a figure item skipped before it ran (no card)
            if name == VERDICT_PROPERTY and (report.when == "call" or (report.when == "setup" and report.skipped)):
                self.config.stash[_verdicts_key].append(Verdict.from_dict(json.loads(value)))


@pytest.fixture
def sr_record(request):
    """Record a `Verdict` for the summary and the report: `sr_record(Verdict(...))`."""
    def record(verdict: Verdict) -> Verdict:
        request.node.user_properties.append((VERDICT_PROPERTY, verdict.to_json()))
        return verdict
    return record


@pytest.fixture
def sr_alone():
    """`with sr_alone(): ...`: no other test of this xdist run executes inside the block (the timed
    loop of a test marked `perf(alone="measurement")`; srharness.pytest_plugin.isolation)."""
    from srharness.pytest_plugin.isolation import alone
    return alone


# ---------------------------------------------------------------- data, weights, goldens
@pytest.fixture(scope="session")
def sr_data_dir(pytestconfig) -> Path | None:
    value = get_option(pytestconfig, "sr_data_dir")
    return Path(value).resolve() if value else None


@pytest.fixture(scope="session")
def sr_weights_dir(pytestconfig, sr_data_dir) -> Path | None:
    from srharness.settings import weights_dir    # flag > env > <data dir>/weights, resolved once
    value = get_option(pytestconfig, "sr_weights_dir")
    found = weights_dir(value, sr_data_dir, existing=True) if value or sr_data_dir else None
    return found.resolve() if value and found else found


def golden_dir(config) -> Path:
    """--sr-golden-dir / SRHARNESS_GOLDEN_DIR, else the project's golden/ (rootdir), else the bundled
    published figures (srharness.resources.pytest_golden_dir, which the checks use too)."""
    from srharness import resources
    return resources.pytest_golden_dir(config)


@pytest.fixture(scope="session")
def sr_golden_dir(pytestconfig) -> Path:
    return golden_dir(pytestconfig)


# ---- models and exports (session cache)
def resolve_weights(weights, weights_dir, model: str, scale: int) -> Path | None:
    """None: random init; "auto": the official checkpoint in the weights dir if there, else None;
    anything else: a checkpoint path (srharness.deploy.resolve_weights, as the CLI resolves them)."""
    from srharness.deploy import resolve_weights as resolve
    return resolve(weights, model, scale, weights_dir=weights_dir, required=False)


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
            from srharness.deploy import load_module
            from srharness.models import TorchUnavailable
            try:
                cache[key] = load_module(name, scale, path)
            except TorchUnavailable as exc:
                pytest.skip(f"{exc}: this check needs the torch model")
        return cache[key]
    return get


def export_cache_dir(config) -> Path | None:
    """Exports persist across sessions and xdist workers in <root>/.srharness-cache/exports
    (srharness.resources.cache_dir; SRHARNESS_EXPORT_CACHE=DIR elsewhere, =off for none: every
    session then exports afresh). Keys, verification and clean-up: srharness.export_cache."""
    from srharness import resources
    from srharness.export_cache import cache_dir_from_env
    return cache_dir_from_env(resources.cache_dir(config.rootpath) / "exports")


@pytest.fixture(scope="session")
def sr_export_cache(pytestconfig, tmp_path_factory) -> Path:
    """The export cache folder of the session (see `export_cache_dir`; a session temporary when off)."""
    return export_cache_dir(pytestconfig) or tmp_path_factory.mktemp("sr-exports")


@pytest.fixture(scope="session")
def sr_evaluations(sr_export_cache):
    """The shared evaluation cache (srharness.eval_cache): one evaluation per prepared runner
    (srharness.deploy's content key), protocol, data and calibration per machine, whichever figure
    or check asks first; in <export cache>/evaluations (SRHARNESS_EXPORT_CACHE=off: this session only)."""
    from srharness.eval_cache import EvalCache
    return EvalCache(sr_export_cache / "evaluations")


@pytest.fixture(scope="session")
def sr_export(sr_weights_dir, sr_export_cache):
    """Factory `sr_export(name, scale=2, opset=None, exporter="legacy", shape=None, dynamic=False,
    weights=None) -> srharness.export.ExportResult`; arguments as `srharness.export.export_onnx`,
    weights as `sr_model`. Each export is made once, by `srharness.deploy.export`: on disk (see
    `export_cache_dir`) under a key of its arguments, the weights' sha256, the torch/onnx versions,
    the exporting code and the model's own source (srharness.export_cache), as the CLI makes it.
    `result.details["cache"]` says "hit", "miss" or "repaired". An ONNX-only model has no export:
    the test skips with the reason."""
    def get(name: str, scale: int = 2, opset: int | None = None, exporter: str = "legacy",
            shape: tuple[int, int] | None = None, dynamic: bool = False, weights=None):
        from srharness.deploy import export
        from srharness.models import get_model_spec
        spec = get_model_spec(name)
        if not spec.has_torch:
            pytest.skip(f"{name} is an ONNX-only model ({spec.onnx}): there is no torch code to export")
        path = resolve_weights(weights, sr_weights_dir, name, scale)
        return export(spec, scale, weights=path, opset=opset, shape=shape, dynamic=dynamic, exporter=exporter,
                      cache_dir=sr_export_cache)
    return get
