"""RDN x2 on an Ascend 310 (seed 002): atc at 1x3x114x114 (opset 9 export), benchmark, om vs
torch, card fps > T4."""
from srharness.checks.hardware import AscendChecks


class TestAscend(AscendChecks):
    model = "rdn"
