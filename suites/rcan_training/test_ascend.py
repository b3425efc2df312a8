"""RCAN training on Ascend NPUs (torch_npu, hccl): the guide's configuration, throughput floors
(1p 280.168, 8p 1303.86 images/s), full-run PSNR (37.815 dB rule)."""
import pytest

from srharness.training.checks import CardTrainingChecks

pytestmark = [pytest.mark.ascend]


class TestRcanTrainingAscend(CardTrainingChecks):
    hardware = "ascend"
    device = "npu"
