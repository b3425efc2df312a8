"""Every srharness setting once: its pytest flag, environment twin, CLI flag, nightly YAML key,
kind and default. The pytest plugin, the CLI and the nightly resolve a setting here, with one
precedence: flag > environment > YAML > default. This module is the one reader of SRHARNESS_*
environment variables (`env`); the README's option table is `markdown_table()` (a test keeps them
equal).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srharness.errors import UsageError


@dataclass(frozen=True)
class Setting:
    name: str                     # the pytest dest, e.g. sr_data_dir (env-only settings: the env name lowered)
    env: str                      # SRHARNESS_...
    help: str
    flag: str | None = None       # pytest option
    cli: str | None = None        # srharness CLI option (a global option or a subcommand's)
    yaml: str | None = None       # nightly / farm YAML key
    kind: str = "text"            # text | path | flag | int | float
    default: Any = None
    metavar: str = ""
    many: bool = False            # a comma-separated list: its CLI flag may also be given more than once

    def convert(self, value: Any, where: str) -> Any:
        """`value` as this setting's kind; a UsageError naming where it came from otherwise."""
        if value is None:
            return None
        if self.kind == "flag":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("", "0", "false", "no", "off"):
                return False
            raise UsageError(f"{where}: {value!r} is not a yes/no value; give 1/true or 0/false", subject=str(value))
        if self.kind in ("int", "float"):
            try:
                return (int if self.kind == "int" else float)(value)
            except (TypeError, ValueError):
                raise UsageError(f"{where}: {value!r} is not a number", subject=str(value)) from None
        return str(value) if value != "" else None


_P = "pytest"
SETTINGS: tuple[Setting, ...] = (
    # -- given per run (pytest flag, CLI, nightly YAML)
    Setting("sr_data_dir", "SRHARNESS_DATA_DIR", "shared data (`set5/`, `weights/`); without it the embedded "
            "scikit-image images are used", flag="--sr-data-dir", cli="--data-dir", yaml="data_dir", kind="path",
            metavar="DIR"),
    Setting("sr_weights_dir", "SRHARNESS_WEIGHTS_DIR", "checkpoints (`<model>/*.pth`); default `<data dir>/weights`",
            flag="--sr-weights-dir", cli="--weights-dir", yaml="weights_dir", kind="path", metavar="DIR"),
    Setting("sr_weights", "SRHARNESS_WEIGHTS", "a checkpoint with no model code (`.pth` / `.safetensors` of a public "
            "SR architecture; the `srharness[zoo]` extra): read by the safe loader, its architecture detected, a model "
            "registered for it (as the CLI's `--weights FILE` with no MODEL) and the generic checks run on it; with no "
            "test path pytest runs srharness's `checkpoint` suite", flag="--sr-weights", yaml="weights", kind="path",
            metavar="FILE"),
    Setting("sr_golden_dir", "SRHARNESS_GOLDEN_DIR", "golden YAML files; default the project's `golden/`, else "
            "srharness's published figures", flag="--sr-golden-dir", cli="--golden-dir", yaml="golden_dir",
            kind="path", metavar="DIR"),
    Setting("sr_require", "SRHARNESS_REQUIRE", "comma-separated hardware this run must cover (cpu, cuda, ascend, "
            "vacc): missing hardware stops the run before anything runs, and a required hardware with no passing "
            "test fails it", flag="--sr-require", yaml="require", metavar="HW,..."),
    Setting("sr_summary_json", "SRHARNESS_SUMMARY_JSON", "machine-readable summary of every figure and verdict",
            flag="--sr-summary-json", kind="path", metavar="PATH"),
    Setting("sr_require_figures", "SRHARNESS_REQUIRE_FIGURES", "fail the run when any selected golden figure was "
            "not judged (no weights, no card, no data...)", flag="--sr-require-figures", yaml="require_figures",
            kind="flag"),
    Setting("sr_history_dir", "SRHARNESS_HISTORY_DIR", "archive this run's summary (with its identity) in "
            "`DIR/runs/` and compare its figures with the previous run on the same host and hardware",
            flag="--sr-history-dir", kind="path", metavar="DIR"),
    Setting("sr_compare_fail", "SRHARNESS_COMPARE_FAIL", "fail when a figure got worse than the previous archived "
            "run by more than this, e.g. `fps:10%,psnr:0.05dB` (needs --sr-history-dir)", flag="--sr-compare-fail",
            yaml="compare_fail", metavar="RULES"),
    Setting("sr_plugin", "SRHARNESS_PLUGINS", "comma-separated modules (importable from pytest's rootdir or the CLI's current "
            "folder, or `.py` paths) "
            "that register models, protocols, backends or hardware (srharness.registry)", flag="--sr-plugin",
            cli="--sr-plugin", metavar="MODULE,...", many=True),
    Setting("sr_allow_pickle_class", "SRHARNESS_ALLOW_PICKLE_CLASSES", "comma-separated module.Class names a "
            "trusted legacy full-model pickle may reference (read as inert stubs, never executed), e.g. lapsrn.Net",
            flag="--sr-allow-pickle-class", cli="--allow-pickle-class", metavar="MOD.CLS,...", many=True),
    Setting("sr_diagnose_on_fail", "SRHARNESS_DIAGNOSE_ON_FAIL", "when a compiled CPU variant's figure fails its "
            "rule: `localise` attaches the per-layer error table and plot (srharness.diagnose, about a minute for "
            "VDSR); `repair` also searches the smallest higher-precision node set and records before/after "
            "verdicts (bounded re-runs, a few minutes); default off", flag="--sr-diagnose-on-fail",
            metavar="off|localise|repair"),
    # -- environment only (machine or site settings)
    Setting("export_cache", "SRHARNESS_EXPORT_CACHE", "where exported ONNX files are cached across sessions "
            "(`off` to disable)", kind="path", metavar="DIR|off"),
    Setting("export_lock_timeout_s", "SRHARNESS_EXPORT_LOCK_TIMEOUT_S", "how long to wait for an export-cache lock "
            "another process holds (default 1800 s; the wait names its PID)", kind="float"),
    Setting("lock_dir", "SRHARNESS_LOCK_DIR", "folder of the per-device locks perf checks take", kind="path"),
    Setting("ort_timeout_s", "SRHARNESS_ORT_TIMEOUT_S", "wall-clock bound of one onnxruntime run "
            "(default 900 s): a model that loops ends in \"timed out after N s\"", kind="float"),
    Setting("perf_isolation", "SRHARNESS_PERF_ISOLATION", "`off`: perf figures are measured beside other xdist "
            "workers (stamped as such) instead of alone"),
    Setting("host_name", "SRHARNESS_HOST_NAME", "the host name a run's history is kept under (several machines "
            "behind one name, CI runners)"),
    Setting("hw_shape", "SRHARNESS_HW_SHAPE", "input shape of the hardware suites: `guide` or HxW"),
    Setting("allure", "SRHARNESS_ALLURE", "path of the `allure` executable when not on PATH", kind="path"),
    Setting("quiet", "SRHARNESS_QUIET", "1: no progress output anywhere (set by --quiet / --json)", kind="flag"),
    Setting("figure_budget_macs", "SRHARNESS_FIGURE_BUDGET_MACS", "multiply-accumulates a CPU figure may cost "
            "before it is left to the hardware suites", kind="float", default=1.5e12),
    Setting("malloc_keep_mb", "SRHARNESS_MALLOC_KEEP_MB", "MB of freed memory a test or CLI process keeps for "
            "reuse instead of returning it to the system (glibc; srharness.allocator): 0 keeps glibc's default",
            kind="int", default=256),
    Setting("train_steps", "SRHARNESS_TRAIN_STEPS", "steps of a training check on a card", kind="int"),
    Setting("train_profile", "SRHARNESS_TRAIN_PROFILE", "steps profiled in a training check (0: none)", kind="int",
            default=0),
    Setting("train_batch", "SRHARNESS_TRAIN_BATCH", "batch per device of a training check", kind="int"),
    Setting("rcan_checkpoint", "SRHARNESS_RCAN_CHECKPOINT", "an RCAN training checkpoint to resume the training "
            "check from", kind="path"),
)
BY_NAME = {s.name: s for s in SETTINGS}
BY_ENV = {s.env: s for s in SETTINGS}


def setting(name_or_env: str) -> Setting:
    try:
        return BY_NAME.get(name_or_env) or BY_ENV[name_or_env]
    except KeyError:
        raise KeyError(f"{name_or_env}: not a setting in srharness.settings.SETTINGS") from None


def env(name_or_env: str, default: Any = None) -> Any:
    """The raw environment value of a setting (the one place SRHARNESS_* variables are read)."""
    return os.environ.get(setting(name_or_env).env, default)


def seconds(name_or_env: str, default: float, what: str, *, allow_zero: bool) -> float:
    """A bound in seconds from the environment: `default` when unset, else a number in (0 or more, a
    week]; anything else a UsageError naming the variable and `what` the seconds are for."""
    s = setting(name_or_env)
    raw = os.environ.get(s.env)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not ((value >= 0 if allow_zero else value > 0) and value <= 7 * 24 * 3600):
        raise UsageError(f"{s.env}={raw!r}: give the seconds {what} ({'>= 0' if allow_zero else '> 0'})",
                         subject=raw)
    return value


def resolve_from(name: str, *, flag: Any = None, yaml: Any = None, yaml_where: str = "YAML") -> tuple[Any, str]:
    """(value, where it came from: "flag" | "env" | "yaml" | "default"): flag > environment > YAML >
    default, converted to the setting's kind. The source matters to a caller that resolves
    relative paths (a YAML path is relative to its file, the others to the current folder)."""
    s = setting(name)
    if flag is not None and flag is not False:
        return s.convert(flag, s.flag or s.cli or s.name), "flag"
    raw = os.environ.get(s.env)
    if raw not in (None, ""):
        return s.convert(raw, s.env), "env"
    if yaml is not None:
        return s.convert(yaml, f"{yaml_where}: {s.yaml}"), "yaml"
    return s.default, "default"


def resolve(name: str, *, flag: Any = None, yaml: Any = None, yaml_where: str = "YAML") -> Any:
    """flag > environment > YAML > default, converted to the setting's kind."""
    return resolve_from(name, flag=flag, yaml=yaml, yaml_where=yaml_where)[0]


def weights_dir(flag=None, data_dir=None, *, yaml=None, existing: bool = False) -> Path | None:
    """Where `--weights auto` looks: sr_weights_dir (flag > env > YAML), else <data dir>/weights with
    the data dir itself resolved (the `data_dir` given > $SRHARNESS_DATA_DIR); with existing=True
    that fallback only when the folder exists. The one resolution (CLI, pytest plugin, doctor, deploy)."""
    value = resolve("sr_weights_dir", flag=flag, yaml=yaml)
    if value:
        return Path(value)
    data = resolve("sr_data_dir", flag=data_dir)
    found = Path(data) / "weights" if data else None
    return None if existing and found is not None and not found.is_dir() else found


def pytest_value(config, name: str) -> str | None:
    """The raw value of a pytest run's setting: its flag, else its environment twin (no conversion)."""
    value = config.getoption(setting(name).name, default=None)
    return value if value is not None else (env(name) or None)


def from_pytest(config, name: str) -> Any:
    """A setting of a pytest run: its flag, else its environment twin, else its default."""
    return resolve(name, flag=config.getoption(setting(name).name, default=None))


def pytest_options() -> dict[str, tuple]:
    """dest -> (flag, env, help[, addoption extras]) of every setting with a pytest flag."""
    out = {}
    for s in SETTINGS:
        if s.flag:
            extra = ({"action": "store_true"},) if s.kind == "flag" else ()
            out[s.name] = (s.flag, s.env, _help_text(s), *extra)
    return out


def _help_text(s: Setting) -> str:
    return s.help.replace("`", "").replace("%", "%%")      # argparse expands % in help texts ("fps:10%")


def cli_option(name: str, default: Any = None) -> tuple[str, dict]:
    """(flag, argparse keywords) of a setting's srharness CLI option: the table's help and metavar,
    its environment twin named, default None so that `resolve` applies flag > env > default (a
    global option repeated under each command passes argparse.SUPPRESS)."""
    s = setting(name)
    if not s.cli:
        raise KeyError(f"{name}: no CLI flag in srharness.settings.SETTINGS")
    help = f"{_help_text(s)} [env {s.env}{'; repeatable' if s.many else ''}]"
    return s.cli, {"default": default, "metavar": s.metavar or None, "help": help,
                   **({"action": "append"} if s.many else {})}


def markdown_table() -> str:
    """The README's option table."""
    rows = ["| option | env | CLI | nightly YAML | meaning |", "|---|---|---|---|---|"]
    for s in SETTINGS:
        flag = f"`{s.flag}{' ' + s.metavar if s.metavar and s.kind != 'flag' else ''}`" if s.flag else ""
        rows.append(f"| {flag} | `{s.env}` | {f'`{s.cli}`' if s.cli else ''} | {f'`{s.yaml}`' if s.yaml else ''} "
                    f"| {s.help} |")
    return "\n".join(rows) + "\n"
