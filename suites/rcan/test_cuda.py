"""RCAN SR4K (both configurations) on an NVIDIA GPU: TensorRT fp16 through trtexec and torch fp16."""
from srharness.checks.hardware import CudaChecks


class TestSr4kCuda(CudaChecks):
    model = "rcan-sr4k"


class TestSr4kLiteCuda(CudaChecks):
    model = "rcan-sr4k-lite"
