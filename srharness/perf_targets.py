"""What `srharness bench` and the CPU perf checks time: a model built from the registry, run by
one backend at one input shape.

    target = build_target("vdsr", "ort", shape=(256, 256), batch=1, workdir=tmp)
    result = measure(target.call, PerfConfig(...), conditions=target.conditions)

Backends: every CPU backend of the backend factory (srharness.backends): `torch` (eager, fp32),
`ort` (onnxruntime CPU, fp32), `ort-fp16`, `ort-int8` (= ort-int8-minmax) and ort-int8-entropy
(QDQ; calibrated on two random inputs: timing does not depend on calibration quality), and any
CPU backend a plugin registers. The runner is built before timing; a call is one `runner.run`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np



def __getattr__(name):
    # CPU_BACKENDS: the registry's CPU backends, read when asked (plugins may add some)
    if name == "CPU_BACKENDS":
        from srharness.backends import backend_names
        return tuple(backend_names("cpu"))
    raise AttributeError(name)


@dataclass
class Target:
    model: str
    backend: str
    precision: str
    input_shape: tuple[int, ...]
    call: Callable[[], Any]
    conditions: dict[str, Any] = field(default_factory=dict)


def guide_shape(model: str) -> tuple[int, int]:
    from srharness.models import get_model_spec
    return tuple(get_model_spec(model).guide_input_shape[2:])


def make_input(model: str, shape: tuple[int, int], batch: int = 1, seed: int = 0) -> np.ndarray:
    """A deterministic input on the model's range ([0,1] or [0,255]); timing does not depend on
    the values, and random data avoids denormal/zero shortcuts."""
    from srharness.models import get_model_spec
    spec = get_model_spec(model)
    h, w = shape
    if h % spec.input_multiple or w % spec.input_multiple:
        raise ValueError(f"{model}: H and W must be multiples of {spec.input_multiple}, got {h}x{w}")
    rng = np.random.default_rng(seed)
    return (rng.random((batch, spec.in_channels, h, w), dtype=np.float32) * spec.input_range).astype(np.float32)


# QDQ int8 with per-channel weights needs DequantizeLinear's axis attribute: opset 13 or later.
INT8_OPSET = 13


def export_onnx(model: str, scale: int, x: np.ndarray, path: Path, opset: int | None = None) -> Path:
    """The model at the guide's opset (or `opset`) with the guide's tensor names (srharness.export);
    static at batch 1, dynamic axes for a larger batch."""
    from srharness.export import export_onnx as export
    n, _, h, w = x.shape
    return export(model, path, scale=scale, shape=(h, w), dynamic=n > 1, opset=opset).path


def build_target(model: str, backend: str, *, shape: tuple[int, int] | None = None, batch: int = 1,
                 scale: int = 2, workdir: Path, threads: int | None = None, **options) -> Target:
    """The model on a CPU backend of the factory, built and ready to time; options go to the runner."""
    from srharness.backends import BackendUnavailable, backend_names, build_runner, get_backend
    from srharness.models import get_model_spec
    try:
        info = get_backend(backend)
    except KeyError:
        info = None
    if info is None or info.hardware != "cpu":
        raise ValueError(f"unknown CPU backend {backend!r}; known: {', '.join(backend_names('cpu'))}")
    spec = get_model_spec(model)
    shape = tuple(shape or guide_shape(model))
    x = make_input(model, shape, batch)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cond: dict[str, Any] = {"model": model, "scale": scale, "backend": backend, "hardware": "cpu",
                            "input_shape": list(x.shape), "batch": batch,
                            "weights": "random init (seed 0)" if spec.has_torch else f"the ONNX file {spec.onnx}",
                            "cpu_count": os.cpu_count()}
    kwargs: dict[str, Any] = {}
    if "onnx" in info.needs:
        int8 = info.precision == "int8"
        opset = INT8_OPSET if int8 else None
        if spec.has_torch:
            stem = f"{model}_x{scale}_{'x'.join(map(str, x.shape))}" + (f"_opset{opset}" if opset else "")
            kwargs["onnx"] = export_onnx(model, scale, x, workdir / f"{stem}.onnx", opset=opset)
            cond["onnx_opset"] = opset or spec.guide_opset
        if "calibration" in info.needs:
            kwargs["calibration"] = [make_input(model, shape, x.shape[0], seed=s) for s in (1, 2)]
            cond["calibration"] = f"{backend}, 2 random inputs (timing only)"
    try:
        runner = build_runner(backend, spec=spec, scale=scale, threads=threads, workdir=workdir, **kwargs,
                              **options).build()
    except BackendUnavailable as exc:
        raise ValueError(f"{model} on {backend}: {exc}") from None
    details = runner.describe().details
    cond["precision"] = runner.precision
    if "onnx" in info.needs:
        import onnxruntime as ort
        cond.update({"onnxruntime": ort.__version__, "onnx_file": Path(details.get("onnx", "")).name,
                     "providers": details.get("providers"), "intra_op_threads": threads or "default"})
    else:
        import torch
        cond["torch"] = torch.__version__
        cond["torch_threads"] = torch.get_num_threads()

    def call():
        return runner.run(x)
    return Target(model, backend, runner.precision, x.shape, call, cond)
