"""The nightly's YAML config: keys, checks, and the NightlyConfig they make."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from srharness import settings
from srharness.hardware import HARDWARE
from srharness.errors import InputError


class NightlyConfigError(InputError):
    pass


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
    weights: Path | None = None     # a checkpoint with no model code (pytest's --sr-weights)
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


KNOWN_KEYS = {"suites", "require", "markers", "keyword", "data_dir", "weights_dir", "golden_dir", "weights", "out_dir",
              "single_file", "workers", "report_name", "pytest_args", "require_figures", "compare_fail"}


MAX_WORKERS = 1024    # pytest-xdist processes; more is a typo, not a machine


def read_settings(given: str | Path, *, kind: str, example: str, known: set[str],
                  error: type[Exception]) -> tuple[Path, str, dict]:
    """A YAML settings file (`kind`: nightly config, farm config) as (resolved path, the name errors
    give it, a mapping with only `known` keys), or `error` naming the file and the fix."""
    from srharness.yamlio import load_yaml
    given = Path(given)
    if given.exists() and not given.is_file():   # a FIFO, a device, a symlink to /dev/zero: named as given
        raise error(f"{kind} {given}: not a regular file; give a {kind} (.yaml)")
    path = given.resolve()
    where = f"{kind} {path}"
    if not os.path.lexists(path):
        raise error(f"{where}: no such file (copy {example} and edit it)")
    raw = load_yaml(path, what=kind, error=error, example=example)
    if not isinstance(raw, dict):
        raise error(f"{where}: expected a mapping of settings at the top level")
    unknown = sorted(set(raw) - known)
    if unknown:
        raise error(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return path, where, raw


def load_config(path: str | Path) -> NightlyConfig:
    path, where, raw = read_settings(path, kind="nightly config", example="nightly.example.yaml", known=KNOWN_KEYS,
                                     error=NightlyConfigError)

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

    def setting_dir(key: str) -> Path | None:
        """A folder of the settings table (srharness.settings) with the one precedence: flag > env >
        YAML > default, so $SRHARNESS_DATA_DIR beats the file's data_dir as it beats pytest's
        default. A YAML path is relative to this file, an environment one to the current folder."""
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise NightlyConfigError(f"{where}: field '{key}' must be a path, got {raw[key]!r}")
        s = next(s for s in settings.SETTINGS if s.yaml == key)
        value, source = settings.resolve_from(s.name, yaml=raw.get(key), yaml_where=str(where))
        if source != "env":
            return directory(key, True)
        p = Path(os.path.expandvars(os.path.expanduser(value))).resolve()
        if not p.is_dir():
            raise NightlyConfigError(f"{s.env}={value} (beats {where} field '{key}'): {p} is not a directory")
        return p

    def setting_file(key: str) -> Path | None:
        """A file of the settings table (`weights`): the same precedence and relative paths as setting_dir."""
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise NightlyConfigError(f"{where}: field '{key}' must be a path, got {raw[key]!r}")
        s = next(s for s in settings.SETTINGS if s.yaml == key)
        value, source = settings.resolve_from(s.name, yaml=raw.get(key), yaml_where=str(where))
        if value is None:
            return None
        base = path.parent if source == "yaml" else Path.cwd()
        p = (base / os.path.expandvars(os.path.expanduser(value))).resolve()
        if not p.is_file():
            named = f"{where}: field '{key}'" if source == "yaml" else f"{s.env}={value} (beats {where} field '{key}')"
            raise NightlyConfigError(f"{named}: {p} is not a file (fix the path or remove it)")
        return p

    suites = str_list("suites", required=True)
    if not suites:
        raise NightlyConfigError(f"{where}: field 'suites' is empty; list at least one suite folder or test file")
    for s in suites:
        if not (path.parent / s.split("::")[0]).exists():
            raise NightlyConfigError(f"{where}: field 'suites': {s} does not exist under {path.parent}")
    require = str_list("require", required=False)
    # the table's precedence: an environment twin beats the file (flag > env > YAML > default)
    value, source = settings.resolve_from("sr_require")
    where_require = f"{where}: field 'require'"
    if source == "env":
        require, where_require = [h.strip() for h in value.split(",") if h.strip()], "SRHARNESS_REQUIRE"
    bad = [h for h in require if h not in HARDWARE]
    if bad:
        raise NightlyConfigError(f"{where_require}: unknown hardware {', '.join(bad)}; known: {', '.join(HARDWARE)}")
    workers = raw.get("workers")
    if workers is not None and not (workers == "auto" or (isinstance(workers, int) and not isinstance(workers, bool)
                                                          and 0 <= workers <= MAX_WORKERS)):
        raise NightlyConfigError(f"{where}: field 'workers' must be 'auto' or a whole number in 0..{MAX_WORKERS}, "
                                 f"got {workers!r}")
    single = raw.get("single_file", False)
    if not isinstance(single, bool):
        raise NightlyConfigError(f"{where}: field 'single_file' must be true or false, got {single!r}")
    require_figures = raw.get("require_figures", False)
    if not isinstance(require_figures, bool):
        raise NightlyConfigError(f"{where}: field 'require_figures' must be true or false, got {require_figures!r}")
    value, source = settings.resolve_from("sr_require_figures")
    if source == "env":
        require_figures = bool(value)
    compare_fail, where_compare = raw.get("compare_fail"), f"{where}: field 'compare_fail'"
    value, source = settings.resolve_from("sr_compare_fail")
    if source == "env":
        compare_fail, where_compare = value, "SRHARNESS_COMPARE_FAIL"
    if compare_fail is not None:
        from srharness.report.history import CompareError, parse_compare_rules
        try:
            parse_compare_rules(compare_fail)
        except CompareError as exc:
            raise NightlyConfigError(f"{where_compare}: {exc}") from None
    for key in ("markers", "keyword", "report_name"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise NightlyConfigError(f"{where}: field '{key}' must be a string, got {raw[key]!r}")
    return NightlyConfig(
        path=path, suites=suites, require=require, markers=raw.get("markers"), keyword=raw.get("keyword"),
        data_dir=setting_dir("data_dir"), weights_dir=setting_dir("weights_dir"),
        golden_dir=setting_dir("golden_dir"), weights=setting_file("weights"), out_dir=directory("out_dir", False) or (path.parent / "out/nightly"),
        single_file=single, workers=None if workers in (None, 0) else str(workers),
        report_name=raw.get("report_name") or "srharness nightly", pytest_args=str_list("pytest_args", False),
        require_figures=require_figures, compare_fail=compare_fail)
