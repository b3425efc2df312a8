"""TorchRunner: the reference (torch fp32 on the CPU), and torch on CUDA / in fp16 where present."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .base import Runner, RunnerInfo

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class TorchRunner(Runner):
    def __init__(self, module: nn.Module, device: str = "cpu", precision: str = "fp32"):
        super().__init__()
        if precision not in _DTYPES:
            raise ValueError(f"precision must be one of {sorted(_DTYPES)}, not {precision!r}")
        self.module = module
        self.device = torch.device(device)
        self.precision = precision
        self.hardware = "cuda" if self.device.type == "cuda" else "cpu"
        self.backend = "torch" if self.hardware == "cpu" else "torch-cuda"
        self._last_shapes: tuple | None = None

    def _build(self) -> None:
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("TorchRunner(device='cuda'): torch sees no CUDA device")
        self.module = self.module.eval().to(self.device, _DTYPES[self.precision])

    @torch.inference_mode()
    def _run(self, x: np.ndarray) -> np.ndarray:
        # uint8 inputs (the VastAI RCAN protocol feeds [0,255] bytes) become floats of the same value
        t = torch.from_numpy(np.ascontiguousarray(x)).to(self.device, _DTYPES[self.precision])
        y = self.module(t)
        self._last_shapes = (tuple(x.shape), tuple(y.shape))
        return y.float().cpu().numpy()

    def describe(self) -> RunnerInfo:
        shapes = self._last_shapes or (None, None)
        return RunnerInfo(self.backend, self.hardware, self.precision, shapes[0], shapes[1],
                          {"torch": torch.__version__, "device": str(self.device),
                           "module": type(self.module).__name__})
