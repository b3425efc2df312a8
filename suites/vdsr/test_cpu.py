"""VDSR on the CPU: export conformance, accuracy, performance (torch and onnxruntime)."""
import pytest

from srharness.checks.accuracy import AccuracyChecks
from srharness.checks.export import ExportChecks
from srharness.checks.perf import PerfChecks

pytestmark = [pytest.mark.cpu]


class TestExport(ExportChecks):
    model = "vdsr"


class TestAccuracy(AccuracyChecks):
    model = "vdsr"
    scale = 4       # the guide's (vdsr-vacc x4): its compiled-variant figures are at this scale


class TestPerf(PerfChecks):
    model = "vdsr"
