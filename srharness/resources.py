"""Where srharness's bundled files are: the one answer, the same from a clone and from a wheel.

    from srharness import resources
    resources.golden_dir()            # the published figures (golden/*.yaml)
    resources.golden_dir(rootpath)    # a project's own golden/ if it has one, else the bundled ones
    resources.tolerances_file()       # srharness's floors and tolerances (tolerances.yaml)
    resources.suites_dir()            # the built-in pytest suites (suites/<model>/test_*.py)
    resources.fixtures_dir()          # fixtures/: fake_tools/, logs/, msit/, protocol_figures/
    resources.fake_tools_dir()        # the fake vendor tools (executables), put on PATH to try card paths
    resources.logs_dir()              # recorded vendor-tool logs
    resources.example_config("nightly")   # nightly.example.yaml (also "farm")
    resources.cache_dir(rootpath)     # a session's caches: never inside the installed package

Layout. From a clone (or an editable install of one) these are the clone's own folders, exactly
where they have always been: golden/, suites/, fixtures/, *.example.yaml beside srharness/. An
installed wheel carries copies of them as package data under srharness/_bundle/ (setup.py's build
step copies them there, keeping the fake tools' executable bits), so every default path resolves
the same way in both. Nothing else in srharness computes these paths: use this module.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
BUNDLE_NAME = "_bundle"
# What the wheel bundles, by its name in the clone (folders and files beside srharness/).
BUNDLED = ("golden", "suites", "fixtures", "nightly.example.yaml", "farm.example.yaml")
EXAMPLES = ("nightly", "farm")


def clone_root() -> Path | None:
    """The clone srharness is imported from (the folder holding srharness/, golden/ and
    pyproject.toml), or None when srharness is installed from a wheel."""
    root = PACKAGE.parent
    if (root / "pyproject.toml").is_file() and (root / "golden").is_dir() and (root / "suites").is_dir():
        return root
    return None


def base_dir() -> Path:
    """The folder that holds golden/, suites/, fixtures/ and the example configs: the clone's root,
    or srharness/_bundle/ in an installed wheel."""
    return clone_root() or PACKAGE / BUNDLE_NAME


def golden_dir(project_root: Path | str | None = None) -> Path:
    """The default golden folder. With project_root (pytest's rootdir, or the current folder for the
    CLI): that project's golden/ when it has one (a user project keeps its own figures there);
    otherwise srharness's bundled published figures. An explicit --sr-golden-dir /
    SRHARNESS_GOLDEN_DIR is the caller's business and always wins over this default."""
    if project_root is not None:
        own = Path(project_root) / "golden"
        if own.is_dir():
            return own.resolve()
    return base_dir() / "golden"


def pytest_golden_dir(config) -> Path:
    """A pytest run's golden folder: --sr-golden-dir / SRHARNESS_GOLDEN_DIR, else golden_dir(rootdir).
    Here, not in the pytest layer, so the checks below that layer resolve it the same way."""
    from srharness import settings
    value = settings.pytest_value(config, "sr_golden_dir")
    return Path(value).resolve() if value else golden_dir(config.rootpath)


def tolerances_file() -> Path:
    """srharness's own floors and tolerances (always package data of srharness itself)."""
    return PACKAGE / "tolerances.yaml"


def suites_dir() -> Path:
    """The built-in suites: `pytest <suites_dir>/rcan -m vacc` runs RCAN's card checks."""
    return base_dir() / "suites"


def fixtures_dir() -> Path:
    return base_dir() / "fixtures"


def fake_tools_dir() -> Path:
    """The fake vendor tools (atc, vamc, vamp, trtexec, benchmark, npu-smi, nvidia-smi), as strict
    as the real ones; on PATH they let the card checks run without a card."""
    return fixtures_dir() / "fake_tools"


def logs_dir() -> Path:
    """Recorded vendor-tool logs (parse-log's examples and the parsers' test data)."""
    return fixtures_dir() / "logs"


def cache_dir(project_root: Path | str) -> Path:
    """Where a pytest session keeps its caches (exports): <project>/.srharness-cache, except when the
    project is srharness's own installed bundle (a built-in suite run from a wheel), which must not
    be written into: then the user's cache folder ($XDG_CACHE_HOME or ~/.cache)/srharness."""
    root = Path(project_root).resolve()
    if clone_root() is None and root.is_relative_to(PACKAGE):
        import os
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "srharness"
    return root / ".srharness-cache"


def example_config(name: str) -> Path:
    """The example config `name` ("nightly" or "farm")."""
    if name not in EXAMPLES:
        raise ValueError(f"unknown example config {name!r}; choose one of: {', '.join(EXAMPLES)}")
    return base_dir() / f"{name}.example.yaml"
