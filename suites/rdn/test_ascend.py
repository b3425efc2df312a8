"""RDN x2 on an Ascend 310 (seed 002): atc at 1x3x114x114 (opset 9 export), benchmark, om vs
torch, card fps > T4.
The guide's om accuracy (Set5 x2 under rdn-ascend, 38.27 dB) is a figure of
test_figures.py: not judged until the official RDN weights are in the weights dir."""
from srharness.checks.hardware import AscendChecks


class TestAscend(AscendChecks):
    model = "rdn"
