"""One evaluation per machine and inputs: the on-disk evaluation cache shared by every figure and
check that scores a model on a dataset (golden figure items, the compiled task-accuracy checks,
diagnose-on-fail), across sessions and xdist workers.

    d = deploy("vdsr", 4, backend="ort-int8-entropy", weights="auto", protocol=protocol,
               dataset=dataset, kl_bins=512, build=False)            # srharness.deploy
    ev = evaluation(cache, d, protocol=protocol, dataset=dataset, options={"kl_bins": 512})
    ev.result            # protocols.EvalResult; ev.cache: hit | miss | repaired | off

The key (`evaluation_key`) hashes everything the scores depend on, the way the export cache keys
an export (srharness.export_cache): the prepared runner's content key (srharness.deploy's
`content_key`: the model's own source and srharness's exporting code, the weights' sha256, the
fp32 ONNX file's sha256, the backend, the calibration inputs' digest), every protocol field, the evaluated data (the HR image and the protocol's model input, reference and bicubic
arrays of every sample: dataset files and the stored bicubic/.mat inputs alike), the runner
options (kl_bins...), the backend's precision,
the torch/onnx/onnxruntime/numpy versions, and srharness's evaluation code (`EVAL_SOURCES`). A
changed input is a new key: a stale result is never reused.

Only backends computed on this machine's CPU are cached: a card's figure depends on a driver and
a tool the key cannot see, so it is measured every time.

Robustness as the export cache's: one computation per key at a time (`export_cache._locked`, a
lock file per key, so two xdist workers wait for one evaluation instead of both making it),
entries written atomically (`fileio.atomic_write_text`), an unreadable entry is recomputed
("repaired"). SRHARNESS_EXPORT_CACHE=off turns this cache off too (every session afresh).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from srharness.export_cache import PACKAGE, _locked

# srharness files an evaluation's scores depend on besides the model's code (globs under the package)
EVAL_SOURCES = ("eval_cache.py", "protocols.py", "protocols/*.py", "metrics.py", "data/*.py", "quantize.py",
                "backends/*.py", "runners/base.py", "runners/ort_runner.py", "runners/torch_runner.py", "figures.py",
                "export.py", "checkpoints.py", "fileio.py")
FORMAT = 1      # of an entry's JSON


def eval_code_digest() -> str:
    """sha256 over srharness's evaluation code (read on every call: cheap, and a test may edit it)."""
    h = hashlib.sha256()
    for pattern in EVAL_SOURCES:
        for source in sorted(PACKAGE.glob(pattern)):
            h.update(str(source.relative_to(PACKAGE)).encode())
            h.update(source.read_bytes())
    return h.hexdigest()


def _array_update(h, a) -> None:
    if a is None:
        h.update(b"none")
        return
    a = np.ascontiguousarray(a)
    h.update(f"{a.dtype}{a.shape}".encode())
    h.update(a.tobytes())


_DATA_DIGESTS: dict = {}


def data_digest(protocol, dataset, scale: int, spec) -> str:
    """sha256 over what the evaluation reads of the dataset under this protocol: per sample its
    name, HR image and the prepared input, reference and bicubic arrays (so the stored bicubic
    BMPs and .mat inputs count, not only the HR files). Memoised per process by the protocol's
    fields and the sample files' sizes and mtimes."""
    stamps = []
    for s in dataset:
        p = Path(s.source) if s.source else None
        st = p.stat() if p is not None and p.is_file() else None
        stamps.append((s.name, s.source, st and (st.st_size, st.st_mtime_ns)))
    memo = (_json(protocol.fields()), dataset.name, str(dataset.root), scale, spec.name, tuple(stamps))
    if memo not in _DATA_DIGESTS:
        h = hashlib.sha256()
        for s in dataset:
            hr = s.hr()
            prep = protocol.prepare(hr, scale, spec, name=s.name, sample=s)
            h.update(s.name.encode())
            for a in (hr, prep.input, prep.reference, prep.bicubic):
                _array_update(h, a)
        _DATA_DIGESTS[memo] = h.hexdigest()
    return _DATA_DIGESTS[memo]


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def evaluation_key(deployed, *, protocol, dataset, options: dict | None = None) -> str:
    """The cache key of one evaluation: the prepared runner's content key (srharness.deploy's
    `content_key`: model source, weights, ONNX file, backend, calibration inputs), with the
    protocol's fields, the evaluated data, the runner options, the library versions and the
    evaluation code (see the module's docstring)."""
    import onnx as onnx_mod
    import onnxruntime
    import torch
    from srharness.backends import get_backend
    from srharness.deploy import content_key
    parts = {
        "format": FORMAT, "runner": content_key(deployed)["digest"],
        "precision": get_backend(deployed.backend).precision,
        "protocol": protocol.fields(),
        "data": data_digest(protocol, dataset, deployed.scale, deployed.spec),
        "options": options or {},
        "versions": {"torch": torch.__version__, "onnx": onnx_mod.__version__, "onnxruntime": onnxruntime.__version__,
                     "numpy": np.__version__, "python": sys.version.split()[0]},
        "code": eval_code_digest(),
    }
    return hashlib.sha256(_json(parts).encode()).hexdigest()[:24]


@dataclass
class Evaluation:
    result: Any                     # protocols.EvalResult
    runner: dict                    # what the figure reports of the runner: hardware, input_shape
    cache: str                      # hit | miss | repaired | off
    key: str | None = None


def _to_entry(result, runner: dict) -> dict:
    return {"format": FORMAT, "result": {"protocol": result.protocol, "dataset": result.dataset,
                                         "scale": result.scale,
                                         "images": [dataclasses.asdict(s) for s in result.images]},
            "runner": runner}


def _from_entry(entry: dict):
    from srharness.protocols import EvalResult, ImageScore
    if entry.get("format") != FORMAT:
        raise ValueError(f"format {entry.get('format')!r}, not {FORMAT}")
    r = entry["result"]
    images = [ImageScore(**s) for s in r["images"]]
    if not images:
        raise ValueError("no images")
    return EvalResult(r["protocol"], r["dataset"], int(r["scale"]), images), dict(entry["runner"])


class EvalCache:
    """Entries `<stem>-<key>.json` in `folder`; one computation per key at a time."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.memory: dict[str, Evaluation] = {}      # this process's hits, without re-reading

    def path(self, stem: str, key: str) -> Path:
        return self.folder / f"{stem}-{key}.json"

    def get(self, stem: str, key: str, compute: Callable[[], tuple[Any, dict]]) -> Evaluation:
        if key in self.memory:
            return dataclasses.replace(self.memory[key], cache="hit")
        out = self.path(stem, key)
        with _locked(out):
            problem = None
            if out.is_file():
                try:
                    result, runner = _from_entry(json.loads(out.read_text()))
                    ev = Evaluation(result, runner, "hit", key)
                    self.memory[key] = ev
                    return ev
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    problem = f"unreadable entry ({exc})"
            result, runner = compute()
            from srharness.fileio import atomic_write_text
            atomic_write_text(out, json.dumps(_to_entry(result, runner), default=_plain))
        ev = Evaluation(result, runner, "repaired" if problem else "miss", key)
        self.memory[key] = ev
        return ev


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return repr(value)


def evaluation(cache: EvalCache | None, deployed, *, protocol, dataset, options: dict | None = None,
               run: Callable[[Any], Any] | None = None) -> Evaluation:
    """The one evaluation of a deployed runner (srharness.deploy.deploy, `build=False` is enough:
    the runner builds on its first run) under `protocol` on `dataset`: from the cache when there,
    else `run(runner)` scores it (default: `protocols.evaluate` with `runner.run`). `options`:
    runner options the content key does not hold (kl_bins). Backends not on the CPU are never cached."""
    from srharness.backends import get_backend
    spec, scale, backend = deployed.spec, deployed.scale, deployed.backend

    def compute():
        runner = deployed.runner
        if run is not None:
            result = run(runner)
        else:
            from srharness.protocols import evaluate
            result = evaluate(protocol, runner.run, dataset, scale, spec)
        info = runner.describe() if hasattr(runner, "describe") else None
        return result, {"hardware": getattr(info, "hardware", None) or get_backend(backend).hardware,
                        "input_shape": list(info.input_shape) if getattr(info, "input_shape", None) else None}

    if cache is None or get_backend(backend).hardware != "cpu":
        result, runner = compute()
        return Evaluation(result, runner, "off")
    key = evaluation_key(deployed, protocol=protocol, dataset=dataset, options=options)
    stem = f"{spec.name}-x{scale}-{backend}-{protocol.name}-{dataset.name}"
    return cache.get(stem, key, compute)
