"""ESPCN through srharness's reusable checks: export conformance, CPU fidelity of the compiled
variants, the protocols' plumbing, task accuracy against this project's golden (golden/espcn.yaml),
CPU performance, and one item per golden figure. No pytest_plugins line: srharness's pytest11 entry point loads the plugin,
and this project's `srharness.plugins` entry point registers the model."""
import pytest

from srharness.checks.accuracy import AccuracyChecks
from srharness.checks.export import ExportChecks
from srharness.checks.figures import GoldenFigures
from srharness.checks.perf import PerfChecks

pytestmark = [pytest.mark.cpu]


class TestExport(ExportChecks):
    model = "espcn"
    scale = 3


class TestAccuracy(AccuracyChecks):
    model = "espcn"
    scale = 3


class TestFigures(GoldenFigures):
    """One item per figure of golden/espcn.yaml, measured and judged with its own rule."""
    models = ("espcn",)


class TestPerf(PerfChecks):
    model = "espcn"
    scale = 3


def test_the_model_is_registered_from_this_project():
    from srharness.registry import MODELS
    spec = MODELS["espcn"]
    assert spec.registered_by == "espcn_example.plugin"
    assert spec.input_kind == "y-lr"
