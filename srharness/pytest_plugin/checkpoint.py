"""`--sr-weights FILE` (SRHARNESS_WEIGHTS): the generic checks on a checkpoint with no model code.

    pytest -m cpu --sr-weights realesr-compact.pth --sr-data-dir DATA

The file goes the CLI's way (`srharness eval --weights FILE` with no MODEL): srharness.zoo's
`register_checkpoint` reads it with the safe loader (a hostile pickle is refused before spandrel
sees anything), detects the architecture and registers its ModelSpec (`<arch>-<file stem>`, its
`--weights auto` = this file). With no test path on the command line pytest then runs the packaged
`checkpoint` suite (`srharness where suites`/checkpoint: export, graph, fidelity, golden figures of
that model); with test paths, those run and the model is registered for them.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from srharness import settings

SUITE = "checkpoint"       # the packaged suite folder (srharness.resources.suites_dir())
_UNDER_TEST: list[tuple[str, int]] = []     # this session's (model name, scale), set by configure


def under_test() -> tuple[str, int] | None:
    """(registered model name, scale) of this session's --sr-weights checkpoint, or None."""
    return _UNDER_TEST[0] if _UNDER_TEST else None


def add_suite_when_no_path(config, parser, args: list[str]) -> None:
    """Before pytest settles its rootdir from the test paths: `--sr-weights FILE` (or its environment
    twin) with no test path named runs the packaged checkpoint suite, not a recursive walk of the
    current folder (or the project's testpaths); the rootdir, ini file and conftests are then the
    suite's own (a clone's pytest.ini; an installed wheel's bundle)."""
    import copy
    ns = parser.parse_known_args(args, namespace=copy.copy(config.option))
    if not (getattr(ns, "sr_weights", None) or settings.env("sr_weights")) or getattr(ns, "file_or_dir", None):
        return
    from srharness.resources import suites_dir
    args.append(str(suites_dir() / SUITE))
    config.known_args_namespace = parser.parse_known_args(args, namespace=copy.copy(config.option))


def configure(config) -> None:
    """Register the --sr-weights checkpoint (every process: xdist workers collect too). Errors are
    SrHarnessErrors (the plugin turns them into one usage line naming the file)."""
    _UNDER_TEST.clear()
    value = settings.pytest_value(config, "sr_weights")
    if not value:
        return
    s = settings.setting("sr_weights")
    path = Path(value).expanduser()
    if not path.is_file():
        raise pytest.UsageError(f"{s.flag} / {s.env}: {value} is not a checkpoint file "
                                f"(give a .pth / .safetensors file)")
    from srharness.zoo import register_checkpoint
    spec, det = register_checkpoint(path.resolve(), replace=False)
    _UNDER_TEST.append((spec.name, det.scale))
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Summary(f"srharness: {spec.name}: {det.summary()}"), "srharness-checkpoint")


class _Summary:
    def __init__(self, line: str):
        self.line = line

    def pytest_report_header(self, config):
        return self.line
