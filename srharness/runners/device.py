"""The device pipeline: a Runner whose buffers live on the device (torch-cuda, onnxruntime's
CUDA/TensorRT providers, the TensorRT API), what srharness.perf_gpu's timing loops drive, and the
GPU options every figure records. Here, beside the runners that subclass it, so the runners never
import the timing layer above them (srharness.perf_gpu re-exports these names)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from srharness.runners.base import BackendUnavailable, Runner, RunnerInfo

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
PRECISIONS = ("fp32", "fp16", "bf16")


class GpuUnavailable(BackendUnavailable):
    """The GPU path cannot run here; the message names what was looked for (checks skip on it)."""



@dataclass(frozen=True)
class GpuOptions:
    """How the model runs; recorded with every figure."""
    precision: str = "fp32"            # fp32 | fp16 | bf16
    cast: str = "weights"              # weights: module and input in the precision (.half()); autocast: fp32 weights
    channels_last: bool = False
    cuda_graphs: bool = False          # torch.cuda.CUDAGraph captured after the build warm-up
    compile: str | None = None         # a torch.compile mode (COMPILE_MODES) or None
    uint8_io: bool = False             # uint8 in and out (vamp's `dtype: u1`), converted on the GPU
    pinned: bool = False               # page-locked host buffers (async copies)
    cudnn_benchmark: bool = True       # static shapes: let cuDNN pick the fastest algorithm
    tf32: bool = False                 # fp32 convolutions in TF32 (off: true fp32, comparable with the CPU)

    def validate(self) -> "GpuOptions":
        problems = []
        if self.precision not in PRECISIONS:
            problems.append(f"precision {self.precision!r}: one of {', '.join(PRECISIONS)}")
        if self.cast not in ("weights", "autocast"):
            problems.append(f"cast {self.cast!r}: weights or autocast")
        if self.compile is not None and self.compile not in COMPILE_MODES:
            problems.append(f"compile mode {self.compile!r}: one of {', '.join(COMPILE_MODES)}")
        if self.cuda_graphs and self.compile in ("reduce-overhead", "max-autotune"):
            problems.append(f"--cuda-graphs with torch.compile mode {self.compile!r}: that mode captures CUDA "
                            "graphs itself; use max-autotune-no-cudagraphs or drop --cuda-graphs")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def tag(self) -> str:
        parts = [self.precision + ("-autocast" if self.cast == "autocast" and self.precision != "fp32" else "")]
        parts += [name for name in ("channels_last", "cuda_graphs", "uint8_io", "pinned") if getattr(self, name)]
        if self.compile:
            parts.append(f"compile:{self.compile}")
        return "+".join(parts)



def require_cuda(what: str = "torch-cuda") -> None:
    """GpuUnavailable naming what was looked for, unless torch sees a CUDA device."""
    import torch
    if torch.cuda.is_available() and torch.cuda.device_count() > 0:
        return
    built = torch.version.cuda
    raise GpuUnavailable(f"{what} needs an NVIDIA GPU: looked for torch.cuda.is_available() with at least one device; "
                         f"torch {torch.__version__} was built " + (f"with CUDA {built} but sees no GPU (driver, "
                         "CUDA_VISIBLE_DEVICES?)" if built else "without CUDA (install a CUDA build of torch)"))


def options_dict(options: GpuOptions) -> dict:
    return {**asdict(options), "tag": options.tag()}



# ---------------------------------------------------------------- device pipelines
class DevicePipeline(Runner):
    """Device-resident buffers around one inference: what the timing loops drive, and a Runner
    (`run(x)` copies x in, computes, copies the output out on the model's range).

    A pool of `distinct_inputs` inputs lives on the device (uint8 when `uint8_io`, else float32 as
    a user would hand them over); `prepare(i)` copies input i into the static input buffer outside
    the timed window, `compute()` converts it on the device (uint8 -> precision, channels_last),
    runs `_infer` and converts the output (-> uint8, or float32), `h2d` / `d2h` copy between the
    (optionally pinned) host buffers and the device. Subclasses implement `_setup` and `_infer`.
    On device "cpu" the same code is the CPU twin the unit tests run.
    """
    supports = ("uint8_io", "pinned")      # options a subclass honours beyond precision
    label = "pipeline"

    def __init__(self, input_shape, input_range: float, options: GpuOptions = GpuOptions(), *,
                 device: str = "cuda", distinct_inputs: int = 4, seed: int = 0):
        super().__init__()
        self.input_shape = tuple(int(d) for d in input_shape)
        self.input_range = float(input_range)
        self.options = options.validate()
        unsupported = [k for k in ("channels_last", "cuda_graphs", "compile", "uint8_io", "pinned")
                       if getattr(options, k) and k not in self.supports]
        if unsupported:
            raise ValueError(f"{self.label} does not support {', '.join(unsupported)} (supported: "
                             f"{', '.join(self.supports)})")
        if options.cuda_graphs and device != "cuda":
            raise ValueError("cuda_graphs needs device cuda")
        self.device = device
        self.distinct_inputs = max(1, int(distinct_inputs))
        self.seed = seed
        self._graph = None
        self._nonfinite = None
        self._checked_values = 0
        self.built = False

    # -- subclass hooks
    def _setup(self) -> None: ...
    def _infer(self, x): raise NotImplementedError

    @property
    def compute_dtype(self):
        import torch
        if self.options.cast == "autocast":
            return torch.float32
        return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[self.options.precision]

    def host_inputs(self) -> list[np.ndarray]:
        """The pool as numpy (float32 on the model's range; on the uint8 grid when uint8_io): input i
        is the one input maker's noise of seed `seed + i` (srharness.deploy.make_input's)."""
        from srharness.data.inputs import random_input
        if self.options.uint8_io:
            return [np.round(random_input(self.input_shape, 255.0, self.seed + i)).astype(np.uint8)
                    for i in range(self.distinct_inputs)]
        return [random_input(self.input_shape, self.input_range, self.seed + i) for i in range(self.distinct_inputs)]

    def to_model_range(self, out: np.ndarray) -> np.ndarray:
        out = np.asarray(out)
        return out.astype(np.float32) * (self.input_range / 255.0) if out.dtype == np.uint8 else out.astype(np.float32)

    def on_stream(self):
        """The pipeline's own non-default CUDA stream (everything it enqueues, onnxruntime's and
        TensorRT's work included, runs there; the events are recorded there); a no-op on the CPU."""
        import contextlib
        if self.device != "cuda":
            return contextlib.nullcontext()
        import torch
        if getattr(self, "stream", None) is None:
            self.stream = torch.cuda.Stream()
        return torch.cuda.stream(self.stream)

    def build(self) -> "DevicePipeline":
        if self.built:
            return self
        if self.device == "cuda":
            require_cuda(self.label)
        with self.on_stream():
            self._build()
        return self

    def _build(self) -> None:
        import torch
        if self.device == "cuda":
            torch.backends.cudnn.benchmark = self.options.cudnn_benchmark
            torch.backends.cudnn.allow_tf32 = self.options.tf32
            torch.backends.cuda.matmul.allow_tf32 = self.options.tf32
        self._setup()
        pin = self.options.pinned and self.device == "cuda"
        self.pool_host = self.host_inputs()
        self.pool_dev = [torch.from_numpy(x).to(self.device) for x in self.pool_host]
        self.static_in = self.pool_dev[0].clone()
        self.host_in = torch.from_numpy(self.pool_host[0].copy())
        if pin:
            self.host_in = self.host_in.pin_memory()
        with torch.no_grad():
            for _ in range(3):                      # compile, cuDNN autotune, lazy init: before any capture
                self._y, self._out = self._forward(self.static_in)
            self._sync()
            if self.options.cuda_graphs:
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    for _ in range(3):
                        self._forward(self.static_in)
                torch.cuda.current_stream().wait_stream(side)
                self._graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(self._graph):
                    self._y, self._out = self._forward(self.static_in)
        self.host_out = torch.empty(self._out.shape, dtype=self._out.dtype)
        if pin:
            self.host_out = self.host_out.pin_memory()
        self._nonfinite = torch.zeros((), dtype=torch.int64, device=self.device)
        self._sync()
        self.built = True

    def _sync(self) -> None:
        if self.device == "cuda":
            import torch
            torch.cuda.synchronize()

    def _forward(self, x):
        import torch
        h = x.to(self.compute_dtype)
        if x.dtype == torch.uint8:
            h = h.mul_(self.input_range / 255.0)
        if self.options.channels_last:
            h = h.contiguous(memory_format=torch.channels_last)
        y = self._infer(h)
        if self.options.uint8_io:
            out = y.mul(255.0 / self.input_range).round_().clamp_(0, 255).to(torch.uint8)
        else:
            out = y.float()
        return y, out.contiguous()

    # -- the Runner (run(x): Runner.run builds, then _run)
    def describe(self) -> RunnerInfo:
        return RunnerInfo(self.label, "cuda" if self.device == "cuda" else "cpu", self.options.precision,
                          self.input_shape, None, {"options": asdict(self.options), "device": self.device})

    # -- what the loops call
    def prepare(self, i: int) -> None:
        self.static_in.copy_(self.pool_dev[i % self.distinct_inputs])

    def compute(self, i: int = 0) -> None:
        import torch
        if self._graph is not None:
            self._graph.replay()
        else:
            with torch.no_grad():
                self._y, self._out = self._forward(self.static_in)

    def h2d(self, i: int = 0) -> None:
        self.static_in.copy_(self.host_in, non_blocking=self.options.pinned)

    def d2h(self, i: int = 0) -> None:
        self.host_out.copy_(self._out, non_blocking=self.options.pinned)

    def sample(self, i: int):
        """TEST01 and the non-finite guard: a device copy of the output, and NaN/Inf counted on
        the float output before any uint8 conversion can hide them."""
        import torch
        self._nonfinite += (~torch.isfinite(self._y)).sum()
        self._checked_values += self._y.numel()
        return self._out.clone()

    def reference(self, i: int) -> np.ndarray:
        """Input i run eagerly, straight from the pool (no static buffer, no graph), on the model's range."""
        import torch
        with self.on_stream(), torch.no_grad():
            _, out = self._forward(self.pool_dev[i % self.distinct_inputs])
            return self.to_model_range(out.cpu().numpy())

    def _run(self, x: np.ndarray) -> np.ndarray:
        """One input through the device path (eager), float32 on the model's range: the accuracy form."""
        import torch
        with self.on_stream(), torch.no_grad():
            t = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
            y, out = self._forward(t)
            self._nonfinite += (~torch.isfinite(y)).sum()
            self._checked_values += y.numel()
            return self.to_model_range(out.cpu().numpy())

    def nonfinite(self) -> tuple[int, int]:
        return int(self._nonfinite), self._checked_values

    def conditions(self) -> dict[str, Any]:
        return {"pipeline": self.label, "device": self.device, "input_shape": list(self.input_shape),
                "distinct_inputs": self.distinct_inputs, "options": options_dict(self.options),
                "input_dtype": "uint8" if self.options.uint8_io else "float32",
                "output_dtype": "uint8" if self.options.uint8_io else "float32"}

