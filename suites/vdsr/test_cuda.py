"""VDSR on an NVIDIA GPU: TensorRT fp16 through trtexec (the guides' T4 baseline tool), and every
GPU variant's fidelity, task accuracy and trtexec/MLPerf-style timing (srharness.checks.gpu)."""
from srharness.checks.gpu import GpuChecks
from srharness.checks.hardware import CudaChecks


class TestCuda(CudaChecks):
    model = "vdsr"


class TestGpu(GpuChecks):
    model = "vdsr"
