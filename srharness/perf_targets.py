"""What `srharness bench` and the CPU perf checks time: a model built from the registry, run by
one backend at one input shape.

    target = build_target("vdsr", "ort", shape=(256, 256), batch=1, workdir=tmp)
    result = measure(target.call, PerfConfig(...), conditions=target.conditions)

Backends: `torch` (eager, fp32), `ort` (onnxruntime CPU, fp32), `ort-fp16` and `ort-int8` (QDQ,
max calibration) from `srharness.quantize`. Timing calls the session / module directly (no runner
wrapper, no copies) so that the figure is the backend's own.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

CPU_BACKENDS = ("torch", "ort", "ort-fp16", "ort-int8")


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
                 scale: int = 2, workdir: Path, threads: int | None = None) -> Target:
    from srharness.models import build_model
    if backend not in CPU_BACKENDS:
        raise ValueError(f"unknown CPU backend {backend!r}; known: {', '.join(CPU_BACKENDS)}")
    shape = tuple(shape or guide_shape(model))
    x = make_input(model, shape, batch)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cond: dict[str, Any] = {"model": model, "scale": scale, "backend": backend, "hardware": "cpu",
                            "input_shape": list(x.shape), "batch": batch, "weights": "random init (seed 0)",
                            "cpu_count": os.cpu_count()}
    if backend == "torch":
        import torch
        module = build_model(model, scale)
        if threads:
            torch.set_num_threads(threads)
        cond["torch"] = torch.__version__
        cond["torch_threads"] = torch.get_num_threads()
        xt = torch.from_numpy(x)

        def call():
            with torch.inference_mode():
                return module(xt)
        return Target(model, backend, "fp32", x.shape, call, cond)

    opset = INT8_OPSET if backend == "ort-int8" else None
    stem = f"{model}_x{scale}_{'x'.join(map(str, x.shape))}" + (f"_opset{opset}" if opset else "")
    onnx_path = export_onnx(model, scale, x, workdir / f"{stem}.onnx", opset=opset)
    from srharness.models import get_model_spec
    cond["onnx_opset"] = opset or get_model_spec(model).guide_opset
    precision = "fp32"
    if backend == "ort-fp16":
        from srharness.quantize import to_fp16
        precision = "fp16"
        onnx_path = Path(to_fp16(onnx_path, workdir / onnx_path.name.replace(".onnx", "_fp16.onnx")))
    elif backend == "ort-int8":
        from srharness.quantize import to_int8
        precision = "int8"
        # Timing does not depend on calibration quality: two inputs of the same shape suffice.
        calibration = [make_input(model, shape, x.shape[0], seed=s) for s in (1, 2)]
        onnx_path = Path(to_int8(onnx_path, calibration, calibrate_mode="max",
                                 out_path=workdir / onnx_path.name.replace(".onnx", "_int8.onnx")))
        cond["calibration"] = "max, 2 random inputs (timing only)"
    import onnxruntime as ort
    from srharness.runners.ort_runner import OrtRunner
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    runner = OrtRunner(onnx_path, backend_name=backend, precision=precision, session_options=so).build()
    cond.update({"onnxruntime": ort.__version__, "onnx_file": onnx_path.name, "precision": precision,
                 "providers": runner.describe().details["providers"], "intra_op_threads": threads or "default"})

    def call():
        return runner.run(x)
    return Target(model, backend, precision, x.shape, call, cond)
