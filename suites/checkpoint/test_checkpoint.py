"""The generic checks on a checkpoint with no model code, given with `--sr-weights FILE`
(SRHARNESS_WEIGHTS): export conformance and graph checks, CPU fidelity of the compiled variants,
the protocols' plumbing, compiled task accuracy and the golden figures of that model where a golden
names it (a golden's `weights:`), CPU performance. The model is the one srharness.zoo detected and
registered from the file (the srharness[zoo] extra), as `srharness eval --weights FILE` does.

    pytest -m cpu --sr-weights realesr-compact.pth --sr-data-dir DATA   # no path: this suite
    pytest "$(srharness where suites)/checkpoint" -m "cpu and not perf" --sr-weights X.safetensors

Without --sr-weights the module is skipped with that reason.
"""
import pytest

from srharness.checks.accuracy import AccuracyChecks
from srharness.checks.export import ExportChecks
from srharness.checks.figures import GoldenFigures
from srharness.checks.perf import PerfChecks
from srharness.pytest_plugin.checkpoint import under_test

_checkpoint = under_test()
if _checkpoint is None:
    pytest.skip("no checkpoint: give --sr-weights FILE (or SRHARNESS_WEIGHTS) to run the generic checks on it",
                allow_module_level=True)
MODEL, SCALE = _checkpoint

pytestmark = [pytest.mark.cpu]


class TestExport(ExportChecks):
    model, scale = MODEL, SCALE


class TestAccuracy(AccuracyChecks):
    model, scale = MODEL, SCALE


class TestFigures(GoldenFigures):
    """The figures a golden records for this model (a golden naming these weights)."""
    models = (MODEL,)


class TestPerf(PerfChecks):
    model, scale = MODEL, SCALE
