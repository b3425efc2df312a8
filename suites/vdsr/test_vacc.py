"""VDSR on a VastAI card (seed 004): vamc fp16 and int8 (kl_divergence) at 1x1x256x256, vamp."""
from srharness.checks.hardware import VaccChecks


class TestVaccFp16(VaccChecks):
    model = "vdsr"
    dtype = "fp16"


class TestVaccInt8Kl(VaccChecks):
    model = "vdsr"
    dtype = "int8"
    calibrate_mode = "kl_divergence"
