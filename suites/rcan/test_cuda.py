"""RCAN SR4K (both configurations) on an NVIDIA GPU: TensorRT fp16 through trtexec, and every GPU
variant's fidelity and trtexec/MLPerf-style timing at 1x3x1080x1920 (srharness.checks.gpu)."""
from srharness.checks.gpu import GpuChecks
from srharness.checks.hardware import CudaChecks


class TestSr4kCuda(CudaChecks):
    model = "rcan-sr4k"


class TestSr4kLiteCuda(CudaChecks):
    model = "rcan-sr4k-lite"


class TestSr4kGpu(GpuChecks):
    model = "rcan-sr4k"


class TestSr4kLiteGpu(GpuChecks):
    model = "rcan-sr4k-lite"
