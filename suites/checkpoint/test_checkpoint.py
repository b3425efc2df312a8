"""The generic checks on a checkpoint with no model code, given with `--sr-weights FILE`
(SRHARNESS_WEIGHTS): export conformance and graph checks, CPU fidelity of the compiled variants,
the protocols' plumbing, compiled task accuracy, CPU performance, and the golden figures of that
model. The model is the one srharness.zoo detected and registered from the file (the
srharness[zoo] extra), as `srharness eval --weights FILE` does.

    pytest -m cpu --sr-weights realesr-compact.pth --sr-data-dir DATA   # no path: this suite
    pytest "$(srharness where suites)/checkpoint" -m "cpu and not perf" --sr-weights X.safetensors

Every figure of a golden that names its weights (`weights:`) is measured here too, with or without
--sr-weights:

    pytest "$(srharness where suites)/checkpoint" --sr-golden-dir team_goldens/
"""
import pytest

from srharness.checks.accuracy import AccuracyChecks
from srharness.checks.export import ExportChecks
from srharness.checks.figures import GoldenFigures
from srharness.checks.perf import PerfChecks
from srharness.pytest_plugin.checkpoint import under_test

pytestmark = [pytest.mark.cpu]
_checkpoint = under_test()
MODEL, SCALE = _checkpoint or (None, None)


class TestFigures(GoldenFigures):
    """The figures of the --sr-weights model, and of every golden that names its weights."""
    models = (MODEL,) if MODEL else ()

    def figures(self, goldens) -> list:
        from srharness.figures import PIPELINE_METRICS
        return [g for g in goldens if g.metric in PIPELINE_METRICS and (g.weights or g.model in self.models)]


if _checkpoint is None:
    def test_checks_need_a_checkpoint():
        pytest.skip("no checkpoint: give --sr-weights FILE (or SRHARNESS_WEIGHTS) to run the generic checks on it")
else:
    class TestExport(ExportChecks):
        model, scale = MODEL, SCALE

    class TestAccuracy(AccuracyChecks):
        model, scale = MODEL, SCALE

    class TestPerf(PerfChecks):
        model, scale = MODEL, SCALE
