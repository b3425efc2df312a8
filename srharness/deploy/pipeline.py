"""GPU timing pipelines, deployed: the named timing variants and `deploy_pipeline`, which makes a
`DevicePipeline` (a Runner: `run(x)` gives the output; the timing loops of srharness.perf_gpu
drive its device-resident buffers) for a backend of the one factory (torch-cuda[-fp16|-bf16],
ort-cuda, ort-trt, tensorrt) with the model, weights and ONNX file made the one way
(srharness.deploy: the module loader and the source-keyed export cache).

    pipe = deploy_pipeline("vdsr", "torch-cuda", options=GpuOptions(precision="fp16"), workdir=tmp)
    fig = perf_gpu.measure_pipeline(pipe, config)
"""
from __future__ import annotations

from pathlib import Path

from srharness.runners.device import PRECISIONS, GpuOptions, require_cuda

GPU_BACKENDS = ("torch-cuda", "torch-cuda-fp16", "torch-cuda-bf16", "ort-cuda", "ort-trt", "tensorrt")


def resolve_backend(backend: str, precision: str | None = None) -> tuple[str, str]:
    """(family, precision) of a GPU backend name: torch-cuda-fp16 -> (torch-cuda, fp16);
    `precision` fills in a bare name and must agree with a suffixed one."""
    if backend not in GPU_BACKENDS:
        raise ValueError(f"GPU backend {backend!r}: one of {', '.join(GPU_BACKENDS)}")
    family, suffix = backend, None
    for p in ("fp16", "bf16"):
        if backend.endswith("-" + p):
            family, suffix = backend[: -len(p) - 1], p
    if suffix and precision and precision != suffix:
        raise ValueError(f"--backend {backend} runs {suffix}; --precision {precision} contradicts it")
    precision = suffix or precision or ("fp16" if family == "tensorrt" else "fp32")
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: one of {', '.join(PRECISIONS)}")
    if family != "torch-cuda" and precision == "bf16":
        raise ValueError(f"{family} runs fp32 or fp16 here; bf16 is a torch-cuda precision")
    return family, precision


def timing_variants() -> dict[str, tuple[str, GpuOptions]]:
    """The named variants the cuda suites time and `srharness bench --variants` tables:
    name -> (backend, options)."""
    cl16 = {"precision": "fp16", "channels_last": True}
    io = {"uint8_io": True, "pinned": True}
    return {
        "torch-cuda-fp32": ("torch-cuda", GpuOptions()),
        "torch-cuda-fp16": ("torch-cuda", GpuOptions(precision="fp16")),
        "torch-cuda-fp16-cl": ("torch-cuda", GpuOptions(**cl16)),
        "torch-cuda-fp16-cl-graphs": ("torch-cuda", GpuOptions(**cl16, cuda_graphs=True)),
        "torch-cuda-fp16-cl-graphs-u8-pinned": ("torch-cuda", GpuOptions(**cl16, cuda_graphs=True, **io)),
        # the best batch-1 variant: inductor kernels replayed as one CUDA graph, uint8 I/O, pinned copies
        "torch-cuda-fp16-compile-graphs-u8-pinned": ("torch-cuda", GpuOptions(
            **cl16, cuda_graphs=True, compile="max-autotune-no-cudagraphs", **io)),
        "ort-cuda-fp16": ("ort-cuda", GpuOptions(precision="fp16", **io)),
        "ort-trt-fp16": ("ort-trt", GpuOptions(precision="fp16", **io)),
        "tensorrt-fp16": ("tensorrt", GpuOptions(precision="fp16", **io)),
    }


SLOW_VARIANTS = frozenset({"torch-cuda-fp16-compile-graphs-u8-pinned"})   # max-autotune compiles for minutes


def deploy_pipeline(model: str, backend: str, *, options: GpuOptions, shape=None, batch: int = 1, scale: int = 2,
                    workdir=None, device: str = "cuda", module=None, distinct_inputs: int = 4):
    """The timing pipeline of `model` on GPU backend `backend` (or its CPU twin with device="cpu")
    at `shape` (default: the guide's) and `batch`; ONNX backends get the model from the export
    cache (SRHARNESS_EXPORT_CACHE, else <workdir>/exports)."""
    from srharness.deploy import default_export_cache, export, guide_shape, load_module
    from srharness.models import get_model_spec
    family, precision = resolve_backend(backend, options.precision if options.precision != "fp32" else None)
    if precision != options.precision:
        from dataclasses import replace
        options = replace(options, precision=precision)
    spec = get_model_spec(model)
    h, w = tuple(shape or guide_shape(model))
    input_shape = (batch, spec.in_channels, h, w)
    kw = {"device": device, "distinct_inputs": distinct_inputs}
    if family == "torch-cuda":
        from srharness.runners.torch_runner import TorchPipeline
        return TorchPipeline(module if module is not None else load_module(spec, scale, None, shared=False),
                             input_shape, spec.input_range, options, **kw)
    if device == "cuda":
        require_cuda(family)     # the pipelines' buffers are torch CUDA tensors
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    # the one export path (srharness.deploy: source-keyed cache): static at batch 1, dynamic for a batch
    onnx = Path(export(spec, scale, shape=(h, w), dynamic=batch > 1, cache_dir=default_export_cache(workdir)).path)
    if family == "tensorrt":
        from srharness.runners.tensorrt import require_tensorrt, tensorrt_pipeline
        require_tensorrt()
        return tensorrt_pipeline(onnx, input_shape, spec.input_range, options, workdir=workdir, **kw)
    from srharness.runners.ort_gpu import PROVIDERS, OrtGpuPipeline, require_provider
    if device == "cuda":
        require_provider(PROVIDERS[family])
    if precision == "fp16" and family == "ort-cuda":
        from srharness.quantize import to_fp16
        onnx = to_fp16(onnx, workdir / onnx.name.replace(".onnx", "_fp16.onnx"))
    return OrtGpuPipeline(onnx, input_shape, spec.input_range, options, backend=family, cache_dir=workdir, **kw)
