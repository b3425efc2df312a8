"""The deploy layer: one way from (model, scale, weights, backend, protocol or shape) to a ready runner.

    d = deploy("vdsr", 2, backend="ort-int8-entropy", weights="auto", weights_dir=wdir,
               protocol=protocol, dataset=dataset, workdir=tmp)
    y = d.runner.run(x)          # d.weights, d.onnx, d.key() say what was deployed

Loaders build, runners only run (Polygraphy's split): everything a runner needs is made here, once,
in this order:
  1. weights: an explicit checkpoint path, "auto" (the model's official checkpoint in the weights
     dir: flag > $SRHARNESS_WEIGHTS_DIR > <data dir>/weights, `weights_dir`), or None (the
     deterministic random init, seed 0);
  2. the torch module (a torch backend, or the module to export);
  3. the ONNX file, ALWAYS through the source-keyed export cache (srharness.export_cache): a
     changed `forward`, weights file, torch/onnx version or exporting code is a new file. One
     naming scheme (`export_stem`); an ONNX-only model's own file is used as it is;
  4. calibration inputs (int8 backends): the protocol's inputs of the dataset, or given, or
     seeded random inputs (timing only);
  5. the runner, by the one backend factory (srharness.backends.build_runner), which makes the
     fp16/int8 variant from the fp32 file (srharness.quantize, named by the fp32 file's key).

`key(d)` is the content key of a prepared runner (model source, weights sha256, ONNX sha256,
variant and calibration): what an evaluation cache keys its results on.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from srharness.errors import SrHarnessError, UsageError

# QDQ int8 with per-channel weights needs DequantizeLinear's axis attribute: opset 13 or later;
# the CPU backends' fp32/fp16/int8 files all come from one export at this opset.
VARIANT_OPSET = 13
RANDOM_INIT = "random init (seed 0)"
WEIGHTS_ENV = "SRHARNESS_WEIGHTS_DIR"


class DeployError(SrHarnessError, ValueError):
    """The model cannot be deployed as asked (no weights found, a backend it cannot run on...)."""


# ---------------------------------------------------------------- inputs
_SHAPE = re.compile(r"\s*(\d{1,9})\s*[xX,]\s*(\d{1,9})\s*")
# Upper bounds of the sizes a command line may ask for. They are generous for SR inputs (a 4K
# frame is 2160x3840) and stop a typo such as 100000x100000 before it allocates 40 GB.
MAX_SIDE = 8192
MAX_PIXELS = 4096 * 4096


def parse_shape(text: str) -> tuple[int, int]:
    """'HxW' (or 'H,W'): both sides >= 1, at most MAX_SIDE, at most MAX_PIXELS in all."""
    m = _SHAPE.fullmatch(str(text or ""))
    if not m:
        raise UsageError(f"{text!r}: expected HxW, e.g. 256x256", subject=str(text))
    h, w = int(m[1]), int(m[2])
    if h < 1 or w < 1:
        raise UsageError(f"{text!r}: H and W must be positive", subject=str(text))
    if h > MAX_SIDE or w > MAX_SIDE or h * w > MAX_PIXELS:
        raise UsageError(f"{text!r}: larger than {MAX_SIDE} per side or {MAX_PIXELS} pixels "
                         "(tile a large image instead, e.g. eval --tile)", subject=str(text))
    return h, w


def make_input(spec, shape: tuple[int, int], batch: int = 1, seed: int = 0, *, image=None,
               where: str = "image") -> np.ndarray:
    """The one input maker: a deterministic NCHW float32 input on the model's range ([0,1] or
    [0,255]): seeded uniform noise (timing, calibration for timing, agreement without data), or
    with `image` (RGB uint8 HxWx3) its centre crop, the Y channel for a one-channel model (real
    photos for fidelity and export checks; `where` names the image in an error)."""
    from srharness.data.inputs import crop_input, random_input
    spec = _spec(spec)
    h, w = (int(d) for d in shape)
    if h % spec.input_multiple or w % spec.input_multiple:
        raise UsageError(f"{spec.name}: H and W must be multiples of {spec.input_multiple}, got {h}x{w}")
    if image is None:
        return random_input((batch, spec.in_channels, h, w), spec.input_range, seed)
    x = crop_input(image, h, w, spec.in_channels, spec.input_range, where)
    return np.repeat(x, batch, axis=0) if batch > 1 else x


def real_inputs(shape: tuple[int, int], data_dir=None, n: int = 3, *, in_channels: int = 3,
                input_range: float = 1.0) -> list[np.ndarray]:
    """n NCHW float32 inputs on [0, input_range]: centre crops of real photos, the first n images
    of Set5 (`data_dir`) or, with no data dir, of the embedded dataset; Y (MATLAB) for 1-channel
    models. A crop larger than an image is refused (a smaller crop would be a wrong figure)."""
    from srharness.data.datasets import load_dataset
    from srharness.data.inputs import crop_input
    ds = load_dataset("set5", data_dir) if data_dir is not None else load_dataset("embedded")
    h, w = (int(d) for d in shape)
    return [crop_input(s.hr(), h, w, in_channels, input_range, f"{ds.name}/{s.name}") for s in list(ds)[:n]]


def guide_shape(spec) -> tuple[int, int]:
    return tuple(_spec(spec).guide_input_shape[2:])


def _spec(spec):
    if isinstance(spec, str):
        from srharness.models import get_model_spec
        return get_model_spec(spec)
    return spec


# ---------------------------------------------------------------- weights and module
def resolve_weights(weights, spec, scale: int, *, weights_dir=None, required: bool = True) -> Path | None:
    """None: random init; "auto": the official checkpoint in `weights_dir` (or the model package's
    bundled weights); with required=False a missing one is random init, else DeployError; any other
    value: that checkpoint file."""
    spec = _spec(spec)
    if weights is None:
        return None
    if not spec.has_torch:   # its weights are in its ONNX file: no checkpoint to find or load
        if str(weights) != "auto":
            raise DeployError(f"--weights {weights}: {spec.name} is an ONNX-only model ({spec.onnx}); its weights "
                              "are in that file: drop --weights", subject=str(weights))
        if required:
            raise DeployError(f"--weights auto: {spec.name} is an ONNX-only model ({spec.onnx}); it has no official "
                              "checkpoint to find, its weights are in that file: drop --weights", subject=spec.name)
        return None
    if str(weights) == "auto":
        from srharness.checkpoints import find_weights
        path = find_weights(weights_dir, spec.name, scale)
        if path is None and required:
            raise DeployError(f"--weights auto: no official {spec.name} x{scale} checkpoint under "
                              f"{weights_dir or f'(no --weights-dir, ${WEIGHTS_ENV} or data dir)'}; "
                              "give a checkpoint path or --weights-dir", subject=str(weights_dir))
        return path
    path = Path(weights)
    if not path.is_file():
        raise DeployError(f"--weights {weights}: no such checkpoint file", subject=str(weights))
    return path


def weights_label(spec, path: Path | None) -> str:
    spec = _spec(spec)
    if not spec.has_torch:
        return f"the ONNX file {spec.onnx}"
    if path is None and spec.weights_file:      # a spec detected from a checkpoint has no random init
        return f"{spec.weights_file} (the checkpoint its architecture was detected from)"
    return str(path) if path else RANDOM_INIT


_MODULES: dict = {}


def load_module(spec, scale: int, weights: Path | None, *, shared: bool = True):
    """The torch module with these weights (strict load) or the seeded random init, eval mode,
    memoised per process by (model, scale, weights file and its mtime); shared=False: a fresh one
    the caller may change in place (a timing pipeline casting it)."""
    spec = _spec(spec)
    from srharness.checkpoints import load_into
    from srharness.models import build_model
    key = (spec.name, id(spec), scale, str(weights), weights.stat().st_mtime_ns if weights else None)
    if not shared:
        _MODULES.pop(key, None)
    if key not in _MODULES:
        # a checkpoint that does not fit raises CheckpointError (a user error naming the file)
        model = load_into(spec.name, scale, weights) if weights else build_model(spec.name, scale)
        model.weights_source = weights_label(spec, weights)
        if not shared:
            return model
        _MODULES[key] = model
    return _MODULES[key]


# ---------------------------------------------------------------- ONNX
def default_export_cache(workdir=None) -> Path:
    """$SRHARNESS_EXPORT_CACHE, else <workdir>/exports, else ~/.cache/srharness/exports (`off`: a
    throw-away folder: every run exports afresh)."""
    from srharness.export_cache import cache_dir_from_env
    base = Path(workdir) / "exports" if workdir else Path.home() / ".cache" / "srharness" / "exports"
    folder = cache_dir_from_env(base)
    if folder is None:
        import tempfile
        folder = Path(tempfile.mkdtemp(prefix="srharness-exports-"))
    return folder


def export_stem(name: str, scale: int, exporter: str, opset: int, shape, dynamic: bool, weighted: bool) -> str:
    """The one naming scheme of exported files (the export cache adds the content key)."""
    return "-".join(str(p) for p in (name, f"x{scale}", exporter, f"op{opset}", "x".join(map(str, shape)),
                                      "dyn" if dynamic else "static", "w" if weighted else "rand"))


_EXPORTS: dict = {}


def export(spec, scale: int, *, weights: Path | None = None, opset: int | None = None, shape=None,
           dynamic: bool = False, exporter: str = "legacy", cache_dir=None):
    """The model's ONNX file (srharness.export.ExportResult) from the source-keyed export cache:
    made once per key, verified on every hit; `details["cache"]` says hit, miss or repaired."""
    from srharness.export import ExportError, describe_onnx, export_onnx
    from srharness.export_cache import ExportCache, export_key
    spec = _spec(spec)
    if not spec.has_torch:
        raise ExportError(f"{spec.name} is an ONNX-only model: there is no torch code to export; "
                          f"its file is {spec.onnx}")
    opset = spec.guide_opset if opset is None else opset
    shape = tuple(int(d) for d in (shape or spec.test_shape))
    folder = Path(cache_dir) if cache_dir else default_export_cache()
    args = {"name": spec.name, "scale": scale, "opset": opset, "exporter": exporter, "shape": list(shape),
            "dynamic": dynamic}
    key = export_key(spec, args, weights)
    memo = (str(folder), key)
    if memo in _EXPORTS and _EXPORTS[memo].path.is_file():
        return _EXPORTS[memo]
    disk = ExportCache(folder)
    result = disk.get(
        export_stem(spec.name, scale, exporter, opset, shape, dynamic, weights is not None), key,
        export=lambda out: export_onnx(spec.name, out, scale=scale, opset=opset, exporter=exporter, shape=shape,
                                       dynamic=dynamic, weights=weights),
        describe=lambda out: describe_onnx(out, requested_opset=opset, exporter=exporter, model=spec.name,
                                           scale=scale, dynamic=dynamic, shape=shape))
    result.details["weights"] = weights_label(spec, weights)
    result.details["key"] = key
    _EXPORTS[memo] = result
    return result


# ---------------------------------------------------------------- the deployed runner
@dataclass
class Deployed:
    """A ready runner and what it was made from."""
    runner: Any
    spec: Any
    scale: int
    backend: str
    weights: Path | None
    onnx: Path | None = None
    module: Any = None
    export: Any = None                  # the ExportResult of the fp32 file (None: no export)
    calibration: str | None = None      # how the int8 calibration inputs were made
    calibration_digest: str | None = None
    conditions: dict = field(default_factory=dict)

    @property
    def weights_desc(self) -> str:
        return weights_label(self.spec, self.weights)

    def key(self) -> dict:
        return content_key(self)


def _sha256(path) -> str:
    from srharness.checkpoints import sha256_file
    return sha256_file(Path(path))


def _digest_arrays(arrays: Sequence[np.ndarray]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def content_key(d: Deployed) -> dict:
    """What a prepared runner computes with, as content hashes: the model's source (srharness's
    exporting code and every source file of the network, export_cache.code_digest), the weights'
    sha256, the fp32 ONNX file's sha256, the backend (variant) and the calibration inputs' sha256.
    `digest` hashes them all: equal digests, equal outputs for equal inputs."""
    from srharness.export_cache import code_digest
    spec = d.spec
    key = {"model": spec.name, "scale": d.scale, "backend": d.backend,
           "source": code_digest(spec, d.scale) if spec.has_torch else None,
           "weights": _sha256(d.weights) if d.weights else (None if not spec.has_torch else "seed 0"),
           "onnx": _sha256(d.onnx) if d.onnx else None,
           "calibration": d.calibration_digest}
    key["digest"] = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return key


def get_backend_info(name: str, known: Sequence[str] | None = None):
    """The backend's BackendSpec; an unknown name is a DeployError listing `known` (default: all)."""
    from srharness.backends import backend_names, get_backend
    try:
        return get_backend(name)
    except KeyError:
        raise DeployError(f"--backend {name!r}: unknown; known here: {', '.join(known or backend_names())}",
                          subject=name) from None


def _timing_options(backend: str, timing):
    """The GpuOptions a timed backend runs with: True -> its own (srharness.backends.gpu_options);
    given options get the backend's precision where they leave the default fp32."""
    from dataclasses import replace

    from srharness.backends import gpu_options, timing_precision
    try:
        if timing is True:
            return gpu_options(backend)
        return replace(timing, precision=timing_precision(backend, None if timing.precision == "fp32"
                                                          else timing.precision)).validate()
    except ValueError as exc:
        raise DeployError(str(exc), subject=backend) from None


def deploy(model, scale: int, *, backend: str, weights=None, weights_dir=None, weights_required: bool = True,
           module=None, protocol=None, dataset=None, shape=None, batch: int = 1, calibration=None,
           workdir=None, export_cache=None, opset: int | None = None, threads: int | None = None,
           build: bool = True, timing=None, device: str = "cuda", distinct_inputs: int = 4,
           **options) -> Deployed:
    """The runner of `backend` for the model, ready to run. Exactly one way, for every caller.

    model        a registered name or ModelSpec
    weights      None (random init), "auto" (the weights dir's official checkpoint), or a path;
                 `weights_required=False`: "auto" without a checkpoint is random init
    module       an already-loaded torch module to use instead of loading (its weights are `weights`)
    protocol, dataset   calibration inputs for int8 backends, the static input of card backends
    shape        (H, W): the static input for timing (exported static at that shape, at batch
                 `batch`; a batch > 1 exports dynamic); None: the CPU backends run a dynamic-shape
                 export at VARIANT_OPSET, the card backends the protocol's first input
    calibration  explicit int8 calibration inputs (NCHW on the model's range), or "random"
    workdir      variants, compiled engines, tool logs; export_cache: the export cache folder
    options      passed to the runner unchanged (kl_bins, out_path, providers, ...)
    timing       GPU timing (srharness.perf_gpu): the runner is the backend's device pipeline
                 (its `timing.pipeline`) with these GpuOptions (True: the backend's own), at `shape`
                 (default: the guide's) and `batch`, on `device` ("cpu": its CPU twin), with a pool
                 of `distinct_inputs` inputs; ONNX exported static at the shape (dynamic for a batch)
    """
    from srharness.backends import build_runner
    spec = _spec(model)
    info = get_backend_info(backend)
    if timing is not None:
        timing = _timing_options(backend, timing)
    if scale not in spec.scales:
        raise DeployError(f"{spec.name} is defined for scales {list(spec.scales)}, not x{scale}", subject=str(scale))
    path = resolve_weights(weights, spec, scale, weights_dir=weights_dir, required=weights_required)
    d = Deployed(runner=None, spec=spec, scale=scale, backend=backend, weights=path)
    kwargs: dict[str, Any] = {}
    if "torch" in info.needs:
        if not spec.has_torch:
            raise DeployError(f"backend {backend} runs torch code; {spec.name} is an ONNX-only model ({spec.onnx})",
                              subject=backend)
        # a timing pipeline casts its module in place: a fresh one, not the process's shared one
        d.module = module if module is not None else load_module(spec, scale, path, shared=timing is None)
        kwargs["module"] = d.module
    workdir = Path(workdir) if workdir else None
    export_cache = export_cache or default_export_cache(workdir)
    first_input = None
    if timing is not None:
        shape = tuple(shape or guide_shape(spec))
        kwargs["input_shape"] = (batch, spec.in_channels, *shape)
        if "onnx" in info.needs:
            if device == "cuda":
                from srharness.runners.device import require_cuda
                require_cuda(backend)      # the pipelines' buffers are torch CUDA tensors: before any export
            if workdir is None:
                raise DeployError(f"timing {backend} needs a workdir for its engine and variant files")
    elif "input_shape" in info.needs:
        if shape is not None:
            input_shape = (batch, spec.in_channels, *shape)
        else:
            if protocol is None or dataset is None or not len(dataset):
                raise DeployError(f"backend {backend} compiles one static shape: give shape= or a protocol and dataset")
            s = dataset.samples[0]
            first_input = protocol.prepare(s.hr(), scale, spec, name=s.name, sample=s).input
            input_shape = tuple(first_input.shape)
        kwargs["input_shape"] = input_shape
        if workdir is None:
            raise DeployError(f"backend {backend} needs a workdir for its compiled model")
    if "onnx" in info.needs:
        if spec.has_torch:
            if "input_shape" in info.needs and timing is None:   # a card compiles the guide's static export
                exp = export(spec, scale, weights=path, opset=opset, shape=kwargs["input_shape"][2:],
                             dynamic=False, cache_dir=export_cache)
            elif shape is not None:             # timing: the shape timed, static at batch 1
                exp = export(spec, scale, weights=path,
                             opset=opset or (VARIANT_OPSET if info.precision == "int8" else None),
                             shape=shape, dynamic=batch > 1, cache_dir=export_cache)
            else:                               # CPU evaluation: one dynamic file for every image
                side = 16 * spec.input_multiple
                exp = export(spec, scale, weights=path, opset=opset or VARIANT_OPSET, shape=(side, side),
                             dynamic=True, cache_dir=export_cache)
            d.export, d.onnx = exp, Path(exp.path)
        else:
            d.onnx = Path(spec.onnx)
        kwargs["onnx"] = d.onnx
    if "calibration" in info.needs or info.precision == "int8":
        if calibration is None or (isinstance(calibration, str) and calibration == "random"):
            if calibration is None and protocol is not None and dataset is not None:
                # int8: calibrated on the protocol inputs of the dataset (vamc: its `dataset` images)
                calibration = [protocol.prepare(s.hr(), scale, spec, name=s.name, sample=s).input for s in dataset]
                d.calibration = f"the {protocol.name} inputs of {getattr(dataset, 'name', 'the dataset')}"
            else:
                hw = tuple(shape or guide_shape(spec))
                calibration = [make_input(spec, hw, batch, seed=s) for s in (1, 2)]
                d.calibration = "2 random inputs (timing only)"
        else:
            d.calibration = d.calibration or f"{len(calibration)} given inputs"
        calibration = list(calibration)
        d.calibration_digest = _digest_arrays(calibration)
        kwargs["calibration"] = calibration
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        kwargs["workdir"] = workdir
    if spec.sr_output is not None and "onnx" in info.needs and not spec.has_torch:
        options.setdefault("output", spec.sr_output)
    # BackendUnavailable (no CUDA, no vendor tool) propagates: checks skip on it, figures record it
    if timing is not None:
        runner = info.timing.pipeline(spec=spec, scale=scale, options=timing, device=device,
                                      distinct_inputs=distinct_inputs, **kwargs)
    else:
        runner = build_runner(backend, spec=spec, scale=scale, threads=threads, **kwargs, **options)
    d.runner = runner.build() if build else runner
    d.conditions = {"weights": d.weights_desc, "backend": backend,
                    "onnx": str(d.onnx) if d.onnx else None,
                    "export_cache": d.export.details.get("cache") if d.export else None,
                    "calibration": d.calibration}
    return d
