"""TorchRunner: the reference (torch fp32 on the CPU), and torch on CUDA in fp32 / fp16 / bf16 with
the GPU options of srharness.perf_gpu.GpuOptions (channels_last, torch.compile, autocast, TF32).
TorchPipeline is the same module in device-resident buffers for the GPU timing loops."""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from srharness.runners.device import DevicePipeline, GpuOptions

from .base import Runner, RunnerInfo
from srharness.errors import SrHarnessError

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class NonFiniteOutput(SrHarnessError, FloatingPointError):
    """A reduced-precision output with NaN/Inf (fp16 overflow): never scored as a figure."""


def prepare_module(module: nn.Module, device: torch.device | str, precision: str, *, cast: str = "weights",
                   channels_last: bool = False, compile: str | None = None) -> nn.Module:
    """The module in eval mode on `device`: weights in `precision` (cast "weights") or kept in fp32
    for autocast, optionally channels_last and torch.compile'd."""
    dtype = _DTYPES[precision] if cast == "weights" else torch.float32
    if torch.device(device).type != "cpu" or dtype != torch.float32 or channels_last or compile:
        # .to() converts in place: the caller's module (often a session-cached fp32 reference) stays as it was
        module = copy.deepcopy(module)
    module = module.eval().to(device, dtype)
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    if compile:
        # each new module instance is a recompile of the same forward; past dynamo's cache limit (8)
        # it would silently run eager, so start from a clean cache (one compiled pipeline at a time)
        torch._dynamo.reset()
        module = torch.compile(module, mode=None if compile == "default" else compile, dynamic=False)
    return module


class TorchRunner(Runner):
    def __init__(self, module: nn.Module, device: str = "cpu", precision: str = "fp32", *, cast: str = "weights",
                 channels_last: bool = False, compile: str | None = None, tf32: bool = False,
                 cudnn_benchmark: bool = False):
        super().__init__()
        if precision not in _DTYPES:
            raise ValueError(f"precision must be one of {sorted(_DTYPES)}, not {precision!r}")
        if cast not in ("weights", "autocast"):
            raise ValueError(f"cast must be weights or autocast, not {cast!r}")
        self.module = module
        self.device = torch.device(device)
        self.precision = precision
        self.cast, self.channels_last, self.compile_mode = cast, channels_last, compile
        self.tf32, self.cudnn_benchmark = tf32, cudnn_benchmark
        self.hardware = "cuda" if self.device.type == "cuda" else "cpu"
        self.backend = "torch" if self.hardware == "cpu" else "torch-cuda" + ("" if precision == "fp32" else f"-{precision}")
        self._last_shapes: tuple | None = None
        self.nonfinite_outputs = 0

    def _build(self) -> None:
        if self.device.type == "cuda":
            from srharness.runners.device import require_cuda
            require_cuda(self.backend)
            # fp32 means fp32: TF32 convolutions (torch's cuDNN default) would differ from the CPU by ~1e-3
            torch.backends.cudnn.allow_tf32 = self.tf32
            torch.backends.cuda.matmul.allow_tf32 = self.tf32
            torch.backends.cudnn.benchmark = self.cudnn_benchmark
        self.module = prepare_module(self.module, self.device, self.precision, cast=self.cast,
                                     channels_last=self.channels_last, compile=self.compile_mode)

    @torch.inference_mode()
    def _run(self, x: np.ndarray) -> np.ndarray:
        # uint8 inputs (the VastAI RCAN protocol feeds [0,255] bytes) become floats of the same value
        autocast = self.cast == "autocast" and self.precision != "fp32"
        t = torch.from_numpy(np.ascontiguousarray(x)).to(self.device, torch.float32 if autocast else _DTYPES[self.precision])
        if self.channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=_DTYPES[self.precision], enabled=autocast):
            y = self.module(t)
        if self.precision != "fp32":
            bad = int((~torch.isfinite(y)).sum())
            if bad:
                self.nonfinite_outputs += 1
                raise NonFiniteOutput(f"{self.backend}: {bad} of {y.numel()} output values are NaN/Inf "
                                      f"({self.precision} overflow) for input {list(x.shape)}; run this model in fp32 "
                                      "or bf16, or find the layer that overflows")
        self._last_shapes = (tuple(x.shape), tuple(y.shape))
        return y.float().contiguous().cpu().numpy()

    def describe(self) -> RunnerInfo:
        shapes = self._last_shapes or (None, None)
        details = {"torch": torch.__version__, "device": str(self.device), "module": type(self.module).__name__}
        if self.device.type == "cuda":
            details.update(cast=self.cast, channels_last=self.channels_last, compile=self.compile_mode, tf32=self.tf32,
                           cudnn_benchmark=self.cudnn_benchmark)
        return RunnerInfo(self.backend, self.hardware, self.precision, shapes[0], shapes[1], details)


class TorchPipeline(DevicePipeline):
    """The module in device-resident buffers for the GPU timing loops (srharness.perf_gpu)."""
    supports = ("channels_last", "cuda_graphs", "compile", "uint8_io", "pinned")

    def __init__(self, module: nn.Module, input_shape, input_range: float, options: GpuOptions = GpuOptions(), **kw):
        super().__init__(input_shape, input_range, options, **kw)
        self.module = module
        self.label = "torch-cuda" if self.device == "cuda" else "torch (CPU twin)"

    def _setup(self):
        o = self.options
        self.module = prepare_module(self.module, self.device, o.precision, cast=o.cast,
                                     channels_last=o.channels_last, compile=o.compile)

    def _infer(self, x):
        autocast = self.options.cast == "autocast" and self.options.precision != "fp32"
        with torch.autocast(torch.device(self.device).type, dtype=_DTYPES[self.options.precision], enabled=autocast):
            return self.module(x)

    def conditions(self):
        return {**super().conditions(), "module": type(self.module).__name__, "torch": torch.__version__}
