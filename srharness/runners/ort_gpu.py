"""onnxruntime on the GPU: the CUDA and TensorRT execution providers (`onnxruntime-gpu`).

`require_provider` refuses to pretend: a CPU-only onnxruntime silently falls back to the CPU
provider when asked for CUDA, which would record CPU figures as GPU figures.

OrtGpuPipeline binds device buffers (torch tensors) with IO binding and runs on torch's current
stream (`user_compute_stream`, no synchronisation inside `run`), so the CUDA events of
srharness.perf_gpu time onnxruntime's kernels exactly as they time torch's. On device "cpu" it
binds host buffers with the CPU provider: the CPU twin the unit tests run.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from srharness.runners.device import DevicePipeline, GpuOptions, GpuUnavailable

PROVIDERS = {"ort-cuda": "CUDAExecutionProvider", "ort-trt": "TensorrtExecutionProvider"}
_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


def require_provider(provider: str) -> None:
    """GpuUnavailable naming the provider and what this onnxruntime has."""
    import onnxruntime as ort
    available = ort.get_available_providers()
    if provider not in available:
        raise GpuUnavailable(f"onnxruntime {ort.__version__} has no {provider} (available: {', '.join(available)}); "
                             "install onnxruntime-gpu (pip install 'srharness[gpu]' does not: it replaces the CPU "
                             "build, install it yourself on a GPU host)")


def provider_options(provider: str, precision: str, stream_handle: int | None, cache_dir: Path | None) -> dict:
    opts: dict = {}
    if stream_handle is not None:
        opts["user_compute_stream"] = str(stream_handle)
    if provider == "TensorrtExecutionProvider":
        opts["trt_fp16_enable"] = precision == "fp16"
        if cache_dir is not None:
            opts.update(trt_engine_cache_enable=True, trt_engine_cache_path=str(cache_dir))
    elif provider == "CUDAExecutionProvider":
        opts["cudnn_conv_algo_search"] = "EXHAUSTIVE"    # static shapes: as cudnn.benchmark for torch
    return opts


class OrtGpuPipeline(DevicePipeline):
    supports = ("uint8_io", "pinned")

    def __init__(self, onnx_path, input_shape, input_range: float, options: GpuOptions = GpuOptions(), *,
                 backend: str = "ort-cuda", cache_dir: Path | None = None, **kw):
        super().__init__(input_shape, input_range, options, **kw)
        if backend not in PROVIDERS:
            raise ValueError(f"backend {backend!r}: one of {', '.join(PROVIDERS)}")
        self.onnx_path, self.backend, self.cache_dir = Path(onnx_path), backend, cache_dir
        self.provider = PROVIDERS[backend] if self.device == "cuda" else "CPUExecutionProvider"
        self.label = backend if self.device == "cuda" else f"{backend} (CPU twin)"

    @property
    def compute_dtype(self):
        import torch
        return torch.float16 if self._input_type == np.float16 else torch.float32

    def _setup(self) -> None:
        import onnxruntime as ort
        import torch
        if self.device == "cuda":
            require_provider(self.provider)
        stream = torch.cuda.current_stream().cuda_stream if self.device == "cuda" else None
        so = ort.SessionOptions()
        providers = [(self.provider, provider_options(self.provider, self.options.precision, stream, self.cache_dir))]
        self.session = ort.InferenceSession(str(self.onnx_path), sess_options=so, providers=providers)
        if self.session.get_providers()[0] != self.provider:
            raise GpuUnavailable(f"{self.onnx_path}: onnxruntime did not take {self.provider} "
                                 f"(got {self.session.get_providers()})")
        inp, out = self.session.get_inputs()[0], self.session.get_outputs()[0]
        self._input_type = _ORT_TYPES.get(inp.type, np.float32)
        self._output_type = _ORT_TYPES.get(out.type, np.float32)
        self._in_name, self._out_name = inp.name, out.name
        self.run_options = ort.RunOptions()
        # enqueue only: the timing events, not onnxruntime, decide when the host waits
        self.run_options.add_run_config_entry("disable_synchronize_execution_providers", "1")
        self._bound: dict = {}

    def _bind(self, x):
        """(Re)bind for the shape of x: an input buffer and an output buffer on the device."""
        import torch
        key = tuple(x.shape)
        if key not in self._bound:
            tdt = torch.float16 if self._input_type == np.float16 else torch.float32
            odt = torch.float16 if self._output_type == np.float16 else torch.float32
            x_buf = torch.empty(key, dtype=tdt, device=self.device)
            with torch.no_grad():   # the output shape from one plain run
                y0 = self.session.run(None, {self._in_name: x.detach().to(tdt).cpu().numpy()})[0]
            y_buf = torch.empty(y0.shape, dtype=odt, device=self.device)
            b = self.session.io_binding()
            dev, idx = ("cuda", torch.cuda.current_device()) if self.device == "cuda" else ("cpu", 0)
            b.bind_input(self._in_name, dev, idx, self._input_type, list(key), x_buf.data_ptr())
            b.bind_output(self._out_name, dev, idx, self._output_type, list(y_buf.shape), y_buf.data_ptr())
            self._bound[key] = (b, x_buf, y_buf)
        return self._bound[key]

    def _infer(self, x):
        binding, x_buf, y_buf = self._bind(x)
        if x.data_ptr() != x_buf.data_ptr():
            x_buf.copy_(x)
        self.session.run_with_iobinding(binding, self.run_options)
        return y_buf

    def conditions(self):
        import onnxruntime as ort
        return {**super().conditions(), "onnx": str(self.onnx_path), "onnxruntime": ort.__version__,
                "providers": self.session.get_providers() if hasattr(self, "session") else [self.provider]}
