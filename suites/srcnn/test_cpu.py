"""SRCNN on the CPU: export conformance, accuracy, performance (torch and onnxruntime)."""
import pytest

from srharness.checks.accuracy import AccuracyChecks
from srharness.checks.export import ExportChecks
from srharness.checks.perf import PerfChecks

pytestmark = [pytest.mark.cpu]


class TestExport(ExportChecks):
    model = "srcnn"


class TestAccuracy(AccuracyChecks):
    model = "srcnn"


class TestPerf(PerfChecks):
    model = "srcnn"
