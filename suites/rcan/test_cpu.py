"""RCAN on the CPU: the full yulunzhang RCAN and the two SR4K configurations of the VastAI
guide (3 2 32 and 2 2 16): export conformance, accuracy, performance."""
import pytest

from srharness.checks.accuracy import AccuracyChecks
from srharness.checks.export import ExportChecks
from srharness.checks.perf import PerfChecks

pytestmark = [pytest.mark.cpu]


class TestRcanExport(ExportChecks):
    model = "rcan"


class TestSr4kExport(ExportChecks):
    model = "rcan-sr4k"


class TestSr4kLiteExport(ExportChecks):
    model = "rcan-sr4k-lite"


class TestRcanAccuracy(AccuracyChecks):
    model = "rcan"


class TestSr4kAccuracy(AccuracyChecks):
    model = "rcan-sr4k"


class TestSr4kLiteAccuracy(AccuracyChecks):
    model = "rcan-sr4k-lite"


class TestSr4kPerf(PerfChecks):
    model = "rcan-sr4k"


class TestSr4kLitePerf(PerfChecks):
    model = "rcan-sr4k-lite"
