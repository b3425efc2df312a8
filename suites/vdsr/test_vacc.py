"""VDSR on a VastAI card (seed 004): vamc fp16 and int8 (kl_divergence) at 1x1x256x256, vamp:
agreement with torch on the same inputs (any weights) and vamp's timing. The guide's task
accuracy on the card (Set5 x4 under vdsr-vacc with the official weights, against 30.956 / 30.219)
is each figure's item in test_figures.py; `pytest -m vacc suites/vdsr` runs both."""
from srharness.checks.hardware import VaccChecks


class TestVaccFp16(VaccChecks):
    model = "vdsr"
    dtype = "fp16"


class TestVaccInt8Kl(VaccChecks):
    model = "vdsr"
    dtype = "int8"
    calibrate_mode = "kl_divergence"
