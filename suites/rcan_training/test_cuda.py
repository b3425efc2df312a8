"""RCAN training on NVIDIA GPUs: the guide's configuration, throughput floors, full-run PSNR."""
import pytest

from srharness.training.checks import CardTrainingChecks

pytestmark = [pytest.mark.cuda]


class TestRcanTrainingCuda(CardTrainingChecks):
    hardware = "cuda"
    device = "cuda"
