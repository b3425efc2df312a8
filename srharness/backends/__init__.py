"""The one backend factory: backend name -> runner builder (a registry like the models').

    from srharness.backends import build_runner
    runner = build_runner("ort-int8-entropy", spec=spec, onnx=fp32_path, calibration=inputs, workdir=tmp)
    y = runner.run(x)

Every place that runs a model on a backend (the CLI's eval and bench, the export, accuracy and
perf checks, the card suites) builds its runner here, so one name means one thing everywhere.
Built-in backends (srharness.backends.builtin, registered through `register_backend` like a
user's): torch, torch-cuda, torch-cuda-fp16, torch-cuda-bf16, ort, ort-fp16, ort-int8 (=
ort-int8-minmax), ort-int8-minmax, ort-int8-entropy, ort-cuda, ort-trt, tensorrt, tensorrt-fp32,
ascend-om, vacc-fp16, vacc-int8-max, vacc-int8-kl.

build_runner keyword arguments (a builder takes what it `needs` and passes the rest on):
    spec          the model's ModelSpec (or model=NAME): tensor names, input range, channels,
                  output shape, vamc graph partition
    scale         upscaling factor (default 2)
    module        torch backends: the nn.Module (default: spec's random init, seed 0)
    onnx          ONNX backends: the fp32 ONNX file (default: an ONNX-only spec's own file)
    input_shape   card backends: the static NCHW input shape they compile for
    workdir       where variants, compiled models and tool logs go (default: beside the ONNX file)
    calibration   int8 backends: NCHW float32 inputs on the model's range (protocol inputs)
    threads       CPU backends: intra-op threads
    **options     passed on to the runner class unchanged (e.g. kl_bins, precision_mode,
                  session_options, providers, calibration_images, and the torch-cuda options
                  of srharness.runners.torch_runner)
A missing need raises `BackendUnavailable` with the reason (checks turn it into a skip).

GPU timing (srharness.perf_gpu) runs a backend's device pipeline: a backend that can be timed says
how in its `timing` (a `Timing`: the pipeline builder, the GpuOptions it times with, the
precisions a bare name takes). The named timing variants the cuda suites time and `srharness bench
--variants` tables (torch-cuda-fp16-cl-graphs-u8-pinned, ort-cuda-fp16, tensorrt-fp16 ...) are
backends of this one table too: as runners they are their device pipeline.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from srharness.registry import Registry, RegistryError, load_plugins, provide
from srharness.runners.base import BackendUnavailable  # noqa: F401  (defined beside the runners that raise it)

BACKENDS = Registry("backend")
NEEDS = ("torch", "onnx", "calibration", "input_shape", "workdir")


@dataclass(frozen=True)
class Timing:
    """How the GPU timing loops run a backend: `pipeline(spec=, scale=, module=, onnx=, input_shape=,
    options=GpuOptions, workdir=, device=, distinct_inputs=)` -> a DevicePipeline (a Runner)."""
    family: str                    # the pipeline kind, and the backend its figures are recorded under
    pipeline: Callable[..., Any]
    options: dict = field(default_factory=dict)      # GpuOptions fields it times with (precision: the backend's)
    precisions: tuple[str, ...] = ("fp32", "fp16")   # what the bare family name may be asked to run at
    variant: bool = False          # one of the named variants the cuda suites time (`bench --variants all`)
    slow: bool = False             # marked slow in the suites (max-autotune compiles for minutes)


@dataclass(frozen=True)
class BackendSpec:
    name: str
    builder: Callable[..., Any]
    hardware: str                  # a registered hardware: cpu, cuda, ascend, vacc ...
    precision: str                 # fp32 | fp16 | bf16 | int8
    needs: tuple[str, ...] = ()    # of NEEDS
    description: str = ""
    timing: Timing | None = None   # GPU timing: its device pipeline (None: not timed by srharness.perf_gpu)

    def __post_init__(self):
        unknown = [n for n in self.needs if n not in NEEDS]
        if unknown:
            raise RegistryError(f"backend {self.name!r}: unknown needs {unknown}; known: {', '.join(NEEDS)}")


def _register(name: str, builder: Callable, *, origin: str, replace_existing: bool, **fields) -> BackendSpec:
    """srharness.registry.register_backend lands here (this module hands it in: `provide`)."""
    return BACKENDS.add(name, BackendSpec(name=name, builder=builder, **fields), origin, replace_existing)


provide("backend", _register)


def get_backend(name: str) -> BackendSpec:
    return BACKENDS.get_entry(name)


def backend_names(hardware: str | None = None, needs_torch: bool | None = None) -> list[str]:
    """Registered backend names, optionally only those of one hardware / that need torch code."""
    load_plugins()
    out = []
    for name in BACKENDS:
        b = BACKENDS[name]
        if hardware is not None and b.hardware != hardware:
            continue
        if needs_torch is not None and ("torch" in b.needs) != needs_torch:
            continue
        out.append(name)
    return out


def timed_backends() -> list[str]:
    """The backends GPU timing can run (srharness.perf_gpu): those with a `timing`."""
    return [name for name in backend_names() if BACKENDS[name].timing is not None]


def timing_variants() -> list[str]:
    """The named timing variants (the cuda suites' and `bench --variants all`), in registration order."""
    return [name for name in timed_backends() if BACKENDS[name].timing.variant]


def timing_precision(name: str, precision: str | None = None) -> str:
    """The precision backend `name` is timed at: a bare family name (torch-cuda, tensorrt) takes
    `precision` (default: the backend's own); any other name runs its own, which `precision` must
    not contradict. ValueError naming the fix otherwise."""
    from srharness.runners.device import PRECISIONS
    b = get_backend(name) if name in BACKENDS else None
    if b is None or b.timing is None:
        raise ValueError(f"GPU backend {name!r}: one of {', '.join(timed_backends())}")
    bare = name == b.timing.family
    if not bare and precision and precision != b.precision:
        raise ValueError(f"--backend {name} runs {b.precision}; --precision {precision} contradicts it")
    precision = precision or b.precision
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: one of {', '.join(PRECISIONS)}")
    if precision not in b.timing.precisions:
        takes = sorted({BACKENDS[n].timing.family for n in timed_backends() if precision in BACKENDS[n].timing.precisions})
        raise ValueError(f"{b.timing.family} runs {' or '.join(b.timing.precisions)} here; {precision} is a "
                         f"{' / '.join(takes)} precision")
    return precision


def gpu_options(name: str, precision: str | None = None, **overrides):
    """The GpuOptions backend `name` is timed with: its `timing.options`, at `timing_precision`,
    with `overrides` (command-line flags) on top; validated."""
    from srharness.runners.device import GpuOptions
    precision = timing_precision(name, precision)
    return GpuOptions(**{**get_backend(name).timing.options, **overrides, "precision": precision}).validate()


def build_runner(name: str, *, spec=None, model: str | None = None, scale: int = 2, **kwargs):
    """The runner of backend `name`, not yet built (call `.build()` or just `.run(x)`)."""
    backend = get_backend(name)
    if spec is None and model is not None:
        from srharness.models import get_model_spec
        spec = get_model_spec(model)
    if spec is not None:
        if "torch" in backend.needs and not spec.has_torch and kwargs.get("module") is None:
            raise BackendUnavailable(f"{name} runs torch code; {spec.name} is an ONNX-only model ({spec.onnx})")
        if "onnx" in backend.needs and kwargs.get("onnx") is None and spec.onnx:
            kwargs["onnx"] = spec.onnx
        if "onnx" in backend.needs and spec.onnx and not spec.has_torch and kwargs.get("onnx") is not None \
                and Path(kwargs["onnx"]).resolve() == Path(spec.onnx).resolve():
            # a user's ONNX file: checked before any backend runs or compiles it (srharness.onnx_check)
            from srharness.onnx_check import check_onnx_model
            check_onnx_model(spec.onnx, spec, kwargs.get("output"))
    missing = [n for n in backend.needs if n != "torch" and kwargs.get(n) is None]
    if "torch" in backend.needs and kwargs.get("module") is None and spec is None:
        missing.insert(0, "module (or spec)")
    if missing:
        raise BackendUnavailable(f"backend {name} needs {', '.join(missing)}")
    return backend.builder(spec=spec, scale=scale, **kwargs)
