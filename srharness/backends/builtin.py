"""The built-in runner builders. Each takes the keyword arguments of `build_runner` (documented in
srharness.backends) and returns a runner from srharness.runners; extra options go to the runner."""
from __future__ import annotations

from pathlib import Path

from srharness.backends import BackendUnavailable, Timing


def _module(module, spec, scale):
    if module is not None:
        return module
    from srharness.models import build_model
    return build_model(spec.name, scale)


def torch_builder(device: str, precision: str):
    def build(*, spec=None, scale=2, module=None, threads=None, **options):
        import torch
        from srharness.runners.torch_runner import TorchRunner
        if device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable("torch.cuda is not available (torch built without CUDA or no GPU visible)")
        if threads:
            torch.set_num_threads(threads)     # torch's thread count is process-wide
        options.pop("workdir", None), options.pop("onnx", None), options.pop("calibration", None)
        options.pop("input_shape", None)
        return TorchRunner(_module(module, spec, scale), device=device, precision=precision, **options)
    return build


def _variant_path(onnx: Path, workdir, suffix: str) -> Path | None:
    return Path(workdir) / f"{Path(onnx).stem}{suffix}" if workdir else None


def ort_builder(variant: str, providers: tuple[str, ...] = ("CPUExecutionProvider",)):
    """variant: fp32 | fp16 | int8-max | int8-kl_divergence. Variants are made from the fp32 file
    by srharness.quantize (cached beside it, or in workdir)."""
    def build(*, spec=None, scale=2, onnx=None, workdir=None, calibration=None, threads=None,
              kl_bins=None, session_options=None, out_path=None, **options):
        from srharness import quantize
        from srharness.runners.ort_runner import OrtRunner
        options.pop("module", None), options.pop("input_shape", None)
        for provider in providers:      # a CPU-only onnxruntime would silently run these on the CPU
            if provider != "CPUExecutionProvider":
                from srharness.runners.ort_gpu import require_provider
                require_provider(provider)
        path, precision = Path(onnx), "fp32"
        if variant == "fp16":
            out = out_path or _variant_path(path, workdir, ".fp16.onnx")
            path, precision = quantize.to_fp16(path, out), "fp16"
        elif variant.startswith("int8"):
            # to_int8 names its file by mode and calibration digest, beside the fp32 file (cached)
            mode = variant.split("-", 1)[1]
            path, precision = quantize.to_int8(path, list(calibration), mode, out_path, kl_bins=kl_bins), "int8"
        return OrtRunner(path, providers=options.pop("providers", list(providers)), backend_name=build.backend_name,
                         precision=precision, session_options=session_options, threads=threads, **options)
    return build


def _io_shapes(spec, scale, input_shape):
    n, c, h, w = (int(d) for d in input_shape)
    oh, ow = spec.output_shape(scale, h, w)
    return (n, c, h, w), (n, c, oh, ow)


def ascend_builder(*, spec, scale=2, onnx, input_shape, workdir, **options):
    from srharness.runners.ascend import AscendRunner
    options.pop("module", None), options.pop("calibration", None), options.pop("threads", None)
    inp, out = _io_shapes(spec, scale, input_shape)
    return AscendRunner(onnx, input_name=spec.guide_input_name, input_shape=inp, output_shape=out,
                        workdir=Path(workdir), **options)


def vacc_builder(dtype: str, calibrate_mode: str):
    def build(*, spec, scale=2, onnx, input_shape, workdir, calibration=None, **options):
        from srharness.runners.vacc import VaccRunner, to_uint8
        options.pop("module", None), options.pop("threads", None)
        inp, out = _io_shapes(spec, scale, input_shape)
        if "calibration_images" not in options:
            if dtype == "int8" and not calibration:
                raise BackendUnavailable(f"vacc int8 ({calibrate_mode}) needs calibration inputs")
            # vamc calibrates on uint8 HWC images (what its dataset files hold)
            options["calibration_images"] = [to_uint8(x[0], spec.input_range).transpose(1, 2, 0).squeeze()
                                             for x in (calibration or [])]
        options.setdefault("name", f"{spec.name}-{dtype}-{inp[2]}x{inp[3]}")
        options.setdefault("graph_partition", spec.graph_partition)
        return VaccRunner(onnx, input_shape=inp, output_shape=out, workdir=Path(workdir),
                          input_range=spec.input_range, dtype=dtype, calibrate_mode=calibrate_mode, **options)
    return build


def tensorrt_builder(precision: str):
    def build(*, spec, scale=2, onnx, input_shape, workdir, **options):
        from srharness.hardware import module_present
        from srharness.runners.tensorrt import TensorRTApiRunner, TensorRTRunner
        options.pop("module", None), options.pop("calibration", None), options.pop("threads", None)
        if module_present("tensorrt") and not options.pop("use_trtexec", False):
            # the Python API: outputs as device buffers, not trtexec's --exportOutput JSON text
            return TensorRTApiRunner(onnx, input_shape=tuple(input_shape), workdir=Path(workdir), precision=precision)
        import shutil
        if shutil.which("trtexec") is None:
            raise BackendUnavailable("TensorRT not found: looked for the `tensorrt` Python module and `trtexec` on PATH")
        return TensorRTRunner(onnx, input_name=spec.guide_input_name, input_shape=tuple(input_shape),
                              workdir=Path(workdir), precision=precision, **options)
    return build


# ---------------------------------------------------------------- GPU timing: device pipelines
def torch_pipeline(*, spec, scale=2, module=None, input_shape, options, device="cuda", distinct_inputs=4, **_):
    from srharness.runners.torch_runner import TorchPipeline
    return TorchPipeline(_module(module, spec, scale), input_shape, spec.input_range, options, device=device,
                         distinct_inputs=distinct_inputs)


def ort_gpu_pipeline(family: str):
    def build(*, spec, onnx, input_shape, options, workdir, device="cuda", distinct_inputs=4, **_):
        from srharness.runners.ort_gpu import PROVIDERS, OrtGpuPipeline, require_provider
        if device == "cuda":
            require_provider(PROVIDERS[family])
        onnx, workdir = Path(onnx), Path(workdir)
        if options.precision == "fp16" and family == "ort-cuda":    # ort-trt: the provider's own fp16 flag
            from srharness.quantize import to_fp16
            onnx = to_fp16(onnx, workdir / onnx.name.replace(".onnx", "_fp16.onnx"))
        return OrtGpuPipeline(onnx, input_shape, spec.input_range, options, backend=family, cache_dir=workdir,
                              device=device, distinct_inputs=distinct_inputs)
    return build


def tensorrt_pipeline(*, spec, onnx, input_shape, options, workdir, device="cuda", distinct_inputs=4, **_):
    from srharness.runners import tensorrt
    tensorrt.require_tensorrt()
    return tensorrt.tensorrt_pipeline(Path(onnx), input_shape, spec.input_range, options, workdir=Path(workdir),
                                      device=device, distinct_inputs=distinct_inputs)


def variant_builder(timing: Timing, precision: str):
    """A timing variant as a runner: its device pipeline on CUDA at the input shape."""
    def build(*, spec, scale=2, module=None, onnx=None, input_shape, workdir=None, **_):
        from srharness.runners.device import GpuOptions
        return timing.pipeline(spec=spec, scale=scale, module=module, onnx=onnx, input_shape=input_shape,
                               options=GpuOptions(**timing.options, precision=precision), workdir=workdir)
    return build


TORCH_TIMING = dict(family="torch-cuda", pipeline=torch_pipeline, precisions=("fp32", "fp16", "bf16"))
_CL16 = {"channels_last": True}
_IO = {"uint8_io": True, "pinned": True}
# the named variants the cuda suites time and `srharness bench --variants` tables: name -> (timing, precision)
TIMING_VARIANTS = {
    "torch-cuda-fp16-cl": (Timing(**TORCH_TIMING, options=_CL16, variant=True), "fp16"),
    "torch-cuda-fp16-cl-graphs": (Timing(**TORCH_TIMING, options={**_CL16, "cuda_graphs": True}, variant=True), "fp16"),
    "torch-cuda-fp16-cl-graphs-u8-pinned": (Timing(**TORCH_TIMING, options={**_CL16, "cuda_graphs": True, **_IO},
                                                   variant=True), "fp16"),
    # the best batch-1 variant: inductor kernels replayed as one CUDA graph, uint8 I/O, pinned copies
    "torch-cuda-fp16-compile-graphs-u8-pinned": (Timing(**TORCH_TIMING, options={
        **_CL16, "cuda_graphs": True, "compile": "max-autotune-no-cudagraphs", **_IO}, variant=True, slow=True), "fp16"),
    "ort-cuda-fp16": (Timing("ort-cuda", ort_gpu_pipeline("ort-cuda"), _IO, variant=True), "fp16"),
    "ort-trt-fp16": (Timing("ort-trt", ort_gpu_pipeline("ort-trt"), _IO, variant=True), "fp16"),
    "tensorrt-fp16": (Timing("tensorrt", tensorrt_pipeline, _IO, variant=True), "fp16"),
}


def _register_variants(api, names) -> None:
    for name in names:
        timing, precision = TIMING_VARIANTS[name]
        family = "torch" if timing.family == "torch-cuda" else "onnx"
        needs = ("torch", "input_shape") if family == "torch" else ("onnx", "input_shape", "workdir")
        tag = "+".join(k for k, v in timing.options.items() if v is True) + (
            f"+compile:{timing.options['compile']}" if timing.options.get("compile") else "")
        api.register_backend(name, variant_builder(timing, precision), hardware="cuda", precision=precision,
                             needs=needs, timing=timing,
                             description=f"timing variant of {timing.family}: {precision}+{tag} (as a runner: its "
                                         "device pipeline at the input's shape)")


def register_builtin_backends(api) -> None:
    torch_needs = ("torch",)
    api.register_backend("torch", torch_builder("cpu", "fp32"), hardware="cpu", precision="fp32", needs=torch_needs,
                         description="torch eager on the CPU: the reference")
    # torch-cuda-fp32 names torch-cuda in the timing tables (the fp32 baseline of the variants)
    for name, precision in (("torch-cuda", "fp32"), ("torch-cuda-fp32", "fp32"), ("torch-cuda-fp16", "fp16"),
                            ("torch-cuda-bf16", "bf16")):
        timing = Timing(**TORCH_TIMING, variant=name in ("torch-cuda-fp32", "torch-cuda-fp16"))
        api.register_backend(name, torch_builder("cuda", precision), hardware="cuda", precision=precision,
                             needs=torch_needs, timing=timing,
                             description="alias of torch-cuda" if name == "torch-cuda-fp32" else
                             f"torch eager on CUDA, {precision}")
    _register_variants(api, [n for n in TIMING_VARIANTS if n.startswith("torch-cuda")])
    ort = [("ort", "fp32", (), "onnxruntime CPU, fp32"),
           ("ort-fp16", "fp16", (), "onnxruntime CPU, fp16 weights and compute, float32 I/O"),
           ("ort-int8", "int8-max", ("calibration",), "alias of ort-int8-minmax"),
           ("ort-int8-minmax", "int8-max", ("calibration",), "QDQ int8, MinMax calibration (vamc `max`)"),
           ("ort-int8-entropy", "int8-kl_divergence", ("calibration",),
            "QDQ int8, Entropy calibration (vamc `kl_divergence`)")]
    for name, variant, extra, desc in ort:
        builder = ort_builder(variant)
        builder.backend_name = name
        api.register_backend(name, builder, hardware="cpu", precision=variant.split("-")[0],
                             needs=("onnx", *extra), description=desc)
    for name, provider in (("ort-cuda", "CUDAExecutionProvider"), ("ort-trt", "TensorrtExecutionProvider")):
        builder = ort_builder("fp32", (provider, "CPUExecutionProvider"))
        builder.backend_name = name
        api.register_backend(name, builder, hardware="cuda", precision="fp32", needs=("onnx",),
                             timing=Timing(name, ort_gpu_pipeline(name)),
                             description=f"onnxruntime with the {provider}")
    _register_variants(api, ["ort-cuda-fp16", "ort-trt-fp16"])
    card = ("onnx", "input_shape", "workdir")
    for name, precision in (("tensorrt", "fp16"), ("tensorrt-fp32", "fp32")):
        api.register_backend(name, tensorrt_builder(precision), hardware="cuda", precision=precision, needs=card,
                             timing=Timing("tensorrt", tensorrt_pipeline),
                             description=f"TensorRT engine built by trtexec, {precision}")
    _register_variants(api, ["tensorrt-fp16"])
    api.register_backend("ascend-om", ascend_builder, hardware="ascend", precision="fp16", needs=card,
                         description="atc-compiled .om run by benchmark / ais_bench (atc's default precision)")
    for name, dtype, mode in (("vacc-fp16", "fp16", "max"), ("vacc-int8-max", "int8", "max"),
                              ("vacc-int8-kl", "int8", "kl_divergence")):
        api.register_backend(name, vacc_builder(dtype, mode), hardware="vacc", precision=dtype, needs=card,
                             description=f"vamc-compiled deployment run by vamp, {dtype}"
                                         + (f" ({mode} calibration)" if dtype == "int8" else ""))
