"""SRCNN x2 on an Ascend 310 (seed 001): atc at 1x1x256x256, benchmark, om vs torch, card fps > T4."""
from srharness.checks.hardware import AscendChecks


class TestAscend(AscendChecks):
    model = "srcnn"
