"""RCAN training on the CPU (issue 6): a small yjn870-layout RCAN trains for real; loss drop,
exact resume, 1 vs 2 gloo processes, throughput. Set5 HR with --sr-data-dir, else scikit-image's
embedded photographs."""
import pytest

from srharness.training.checks import CpuTrainingChecks

pytestmark = [pytest.mark.cpu]


class TestRcanTrainingCpu(CpuTrainingChecks):
    pass
