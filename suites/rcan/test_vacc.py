"""RCAN SR4K on a VastAI card (seed 000): vamc int8 with max calibration at 3x1080x1920, vamp
accuracy and perf runs; the perf runs as the guide's logs (3 2 32: 8 instances, 2 2 16: 1).
The guide's int8 accuracy on DIV2K (32.68 / 32.35 dB) are figures of test_figures.py: not
judged until the SR4K weights and DIV2K are in the data dir."""
from srharness.checks.hardware import VaccChecks


class TestSr4kVacc(VaccChecks):
    model = "rcan-sr4k"
    dtype = "int8"
    calibrate_mode = "max"
    instances = 8
    perf_golden = "rcan-sr4k/x2/perf/fps/vacc-vamp-8-instances"


class TestSr4kLiteVacc(VaccChecks):
    model = "rcan-sr4k-lite"
    dtype = "int8"
    calibrate_mode = "max"
    instances = 1
    perf_golden = "rcan-sr4k-lite/x2/perf/fps/vacc-vamp-1-instance"
