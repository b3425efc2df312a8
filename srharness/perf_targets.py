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
    from srharness.deploy import guide_shape as shape
    return shape(model)


def build_target(model: str, backend: str, *, shape: tuple[int, int] | None = None, batch: int = 1,
                 scale: int = 2, workdir: Path, threads: int | None = None, export_cache=None,
                 **options) -> Target:
    """The model on a CPU backend, deployed (srharness.deploy) and ready to time; options go to the
    runner. ONNX backends time a static export at the shape (dynamic for a batch > 1)."""
    from srharness.allocator import keep_freed_memory
    from srharness.backends import BackendUnavailable, backend_names, get_backend
    from srharness.deploy import deploy, make_input
    from srharness.models import get_model_spec
    try:
        info = get_backend(backend)
    except KeyError:
        info = None
    if info is None or info.hardware != "cpu":
        raise ValueError(f"unknown CPU backend {backend!r}; known: {', '.join(backend_names('cpu'))}")
    spec = get_model_spec(model)
    shape = tuple(shape or guide_shape(model))
    x = make_input(spec, shape, batch)
    workdir = Path(workdir)
    try:
        d = deploy(spec, scale, backend=backend, shape=shape, batch=batch, workdir=workdir, threads=threads,
                   export_cache=export_cache, **options)
    except BackendUnavailable as exc:
        raise ValueError(f"{model} on {backend}: {exc}") from None
    runner = d.runner
    cond: dict[str, Any] = {"model": model, "scale": scale, "backend": backend, "hardware": "cpu",
                            "input_shape": list(x.shape), "batch": batch, "weights": d.weights_desc,
                            "cpu_count": os.cpu_count(), "allocator": keep_freed_memory()}
    if d.export is not None:
        cond["onnx_opset"] = d.export.opset
    if d.calibration:
        cond["calibration"] = f"{backend}, {d.calibration}"
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
