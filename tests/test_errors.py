"""One error type: every user-facing error of srharness derives from srharness.errors.SrHarnessError,
each name is one class, and the CLI and the pytest plugin recognise them by type."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import srharness
from srharness.errors import SrHarnessError

pytest_plugins = ["pytester"]

# Exceptions that never reach a user: control flow inside one function or one check.
INTERNAL = {"srharness.figures.NotJudged", "srharness.diagnose.repair._OutOfRuns"}


def _srharness_exceptions():
    seen = {}
    for info in pkgutil.walk_packages(srharness.__path__, "srharness."):
        if info.name.startswith("srharness._bundle") or info.name.endswith("__main__"):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:        # an optional dependency (ray, tensorrt...) absent here
            continue
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                seen[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return seen


def test_every_error_class_derives_from_srharness_error():
    classes = _srharness_exceptions()
    assert len(classes) > 25
    strays = sorted(name for name, cls in classes.items()
                    if name not in INTERNAL and not issubclass(cls, SrHarnessError))
    assert strays == [], f"user-facing errors outside SrHarnessError: {strays}"


def test_one_class_per_error_name():
    by_name: dict[str, list[str]] = {}
    for name, cls in _srharness_exceptions().items():
        by_name.setdefault(cls.__name__, []).append(name)
    assert {k: v for k, v in by_name.items() if len(v) > 1} == {}


def test_training_checkpoint_error_is_the_checkpoint_error():
    from srharness import checkpoints, training
    assert training.CheckpointError is checkpoints.CheckpointError
    assert issubclass(training.TrainingCheckpointError, (checkpoints.CheckpointError, training.TrainingError))


def test_cli_maps_by_type_not_by_name():
    from srharness.cli import user_error_message
    new = type("BrandNewError", (SrHarnessError, ValueError), {})     # a name the CLI has never seen
    assert user_error_message(new("x.yaml: key 'foo' unknown; remove it")) == "x.yaml: key 'foo' unknown; remove it"
    assert user_error_message(type("CheckpointError", (Exception,), {})("a bug")) is None   # the name alone is not enough
    assert user_error_message(ValueError("a bug of ours")) is None


def test_pytest_plugin_reports_a_user_error_in_one_line(pytester):
    pytester.makeconftest('pytest_plugins = ("srharness.plugin",)')
    pytester.makepyfile(test_user="""
from srharness.errors import InputError
def test_bad_file():
    raise InputError("weights/x.pth: not a checkpoint; give a .pth file")
def test_bug():
    raise KeyError("ours")
""")
    res = pytester.runpytest("-p", "no:cacheprovider")
    res.assert_outcomes(failed=2)
    out = res.stdout.str()
    assert "InputError: weights/x.pth: not a checkpoint; give a .pth file" in out
    assert 'raise InputError("weights' not in out                 # no traceback for the user's error
    assert 'raise KeyError("ours")' in out                         # a bug keeps its traceback
