"""RDN on an NVIDIA GPU: TensorRT fp16 through trtexec (the guides' T4 baseline tool) and torch fp16."""
from srharness.checks.hardware import CudaChecks


class TestCuda(CudaChecks):
    model = "rdn"
