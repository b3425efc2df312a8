"""Compiled CPU variants of an fp32 ONNX model: fp16 and int8 (QDQ, static, calibrated).

- fp16: `onnxruntime.transformers.float16.convert_float_to_float16(keep_io_types=True)`, so the
  runner still feeds and reads float32, as a vacc fp16 deployment does behind its vdsp.
- int8: `onnxruntime.quantization.quantize_static` in QDQ format, calibrated on protocol inputs
  made from images of the dataset (`ProtocolCalibrationReader`). The VastAI guides' vamc
  `quantize.calibrate_mode` maps to onnxruntime's calibration methods as in `CALIBRATION_METHODS`:
  `max` -> MinMax, `kl_divergence` -> Entropy (onnxruntime's KL-divergence histogram method, which
  differs from TVM's, vamc's, by one line: `reference_kl_threshold`).
  Per-channel weights, as the guides' `quantize_per_channel: true`.

Results are cached on disk next to the fp32 model, keyed by the variant and the calibration
set, and written to a temporary name then renamed (never half-written). With a machine-wide cache
(`use_cache(folder)`: the pytest plugin's <export cache>/calibration) the calibration ranges and
histograms (MinMax and Entropy alike) and the int8/fp16 files are kept there instead, keyed by
the fp32 file's content, onnxruntime's version and this file's code as well: every int8 variant
of the same fp32 model and calibration set calibrates once per machine, whatever path the fp32
file or the requested output has (a test's tmp_path), one worker at a time per key.
"""
from __future__ import annotations
from srharness.fileio import atomic_path

import contextlib
import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np
from srharness import progress
from srharness.errors import SrHarnessError

# vamc calibrate_mode -> onnxruntime CalibrationMethod name
CALIBRATION_METHODS = {"max": "MinMax", "kl_divergence": "Entropy", "percentile": "Percentile"}
# our backend spellings -> vamc calibrate_mode
INT8_BACKENDS = {"ort-int8": "max", "ort-int8-minmax": "max", "ort-int8-entropy": "kl_divergence"}


class QuantizeError(SrHarnessError, RuntimeError):
    pass


_CACHE_DIR: Path | None = None


def use_cache(folder: str | Path | None) -> None:
    """Keep calibrations and variants in `folder` (None: beside each fp32 file, the default)."""
    global _CACHE_DIR
    _CACHE_DIR = Path(folder) if folder else None
    if _CACHE_DIR is not None:
        _CACHE_DIR.mkdir(parents=True, exist_ok=True)


def _home(fp32_path: Path) -> tuple[Path, str]:
    """(folder, stem) of the variants of this fp32 file: beside it, or in the machine cache under
    a stem carrying its content hash (with onnxruntime's version and this code)."""
    if _CACHE_DIR is None:
        return fp32_path.parent, fp32_path.stem
    import onnxruntime
    from srharness.fileio import file_digest
    h = hashlib.sha256(f"{file_digest(fp32_path)} {onnxruntime.__version__}".encode())
    h.update(Path(__file__).read_bytes())
    return _CACHE_DIR, f"{fp32_path.stem}-{h.hexdigest()[:16]}"


def _atomic_save(model, out_path: Path) -> Path:
    import onnx
    with atomic_path(out_path) as tmp:
        onnx.save(model, str(tmp))
    return out_path


def _names_tag(names) -> str:
    """A short, order-free tag for a set of node names (cache keys of partial-precision variants)."""
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:8]


def to_fp16(fp32_path: str | Path, out_path: str | Path | None = None, node_block_list=()) -> Path:
    """fp16 weights and compute, float32 inputs/outputs; cached. `node_block_list`: node names kept
    in fp32 (onnxruntime's own option; srharness.diagnose searches for the smallest such list)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16
    fp32_path = Path(fp32_path)
    blocked = f".keep{len(node_block_list)}-{_names_tag(node_block_list)}" if node_block_list else ""

    def make(out: Path) -> None:
        model = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True,
                                         node_block_list=list(node_block_list) or None)
        _atomic_save(model, out)
    return _variant(fp32_path, f"{blocked}.fp16.onnx", out_path, make)


def _variant(fp32_path: Path, suffix: str, out_path, make) -> Path:
    """The variant `<stem><suffix>` of the fp32 file, made by `make(path)` unless there: beside
    the fp32 file (remade when older than it), or in the machine cache (content-keyed, one
    maker per key at a time) and copied to `out_path` when one is asked for."""
    folder, stem = _home(fp32_path)
    default = folder / f"{stem}{suffix}"
    if _CACHE_DIR is None:
        out = Path(out_path) if out_path else default
        if not (out.is_file() and out.stat().st_mtime >= fp32_path.stat().st_mtime):
            out.parent.mkdir(parents=True, exist_ok=True)
            make(out)
        return out
    import shutil
    from srharness.export_cache import _locked
    with _locked(default):
        if not default.is_file():
            make(default)
    if out_path is None or Path(out_path) == default:
        return default
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(Path(out_path)) as tmp:
        shutil.copyfile(default, tmp)
    return Path(out_path)


class ProtocolCalibrationReader:
    """onnxruntime CalibrationDataReader over a list of model inputs (NCHW float32 arrays)."""

    def __init__(self, input_name: str, inputs: Iterable[np.ndarray]):
        self.input_name = input_name
        self._inputs = [np.ascontiguousarray(x, dtype=np.float32) for x in inputs]
        if not self._inputs:
            raise QuantizeError("calibration needs at least one input image")
        self._iter = iter(self._inputs)

    def get_next(self):
        progress.step()
        x = next(self._iter, None)
        return None if x is None else {self.input_name: x}

    def rewind(self):
        self._iter = iter(self._inputs)

    def by_shape(self) -> list["ProtocolCalibrationReader"]:
        """One reader per input shape, in first-seen order (images of different sizes: see _entropy_ranges)."""
        groups: dict[tuple, list[np.ndarray]] = {}
        for x in self._inputs:
            groups.setdefault(x.shape, []).append(x)
        return [ProtocolCalibrationReader(self.input_name, xs) for xs in groups.values()]

    def digest(self) -> str:
        return _inputs_digest(self._inputs)


def _inputs_digest(inputs: Iterable[np.ndarray]) -> str:
    """Cache key of a calibration set (float32, contiguous arrays): shapes and bytes."""
    h = hashlib.sha256()
    for x in inputs:
        h.update(str(x.shape).encode())
        h.update(x.tobytes())
    return h.hexdigest()[:12]


def to_int8(*args, **kwargs) -> Path:
    """QDQ int8 model (see `_to_int8`). onnxruntime's calibrators `print` their progress; that goes
    to stderr here, so `--json` output on stdout stays valid JSON."""
    with contextlib.redirect_stdout(sys.stderr):
        return _to_int8(*args, **kwargs)


def _to_int8(fp32_path: str | Path, calibration_inputs: Iterable[np.ndarray], calibrate_mode: str = "max",
             out_path: str | Path | None = None, per_channel: bool = True, kl_bins: int | None = None,
             nodes_to_exclude=(), tensor_ranges: dict[str, tuple[float, float]] | None = None) -> Path:
    """QDQ int8 model calibrated on `calibration_inputs`; `calibrate_mode` is the vamc name.
    kl_bins: histogram bins for kl_divergence (default KL_HISTOGRAM_BINS; fewer is faster: the
    threshold search is quadratic in the bins). nodes_to_exclude: node names left in float
    (onnxruntime's own option); the Entropy ranges do not depend on it, so they are computed once
    per calibration set and kept beside the fp32 file (srharness.diagnose re-quantizes many times).
    tensor_ranges: {activation: (rmin, rmax)} replacing the calibrated range of those tensors, through
    onnxruntime's own `TensorQuantOverrides` (srharness.diagnose's calibration repair)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if calibrate_mode not in CALIBRATION_METHODS:
        raise QuantizeError(f"calibrate_mode {calibrate_mode!r} unknown; vamc modes: {', '.join(CALIBRATION_METHODS)}")
    fp32_path = Path(fp32_path)
    input_name = onnx.load(str(fp32_path), load_external_data=False).graph.input[0].name
    reader = ProtocolCalibrationReader(input_name, calibration_inputs)
    kl_bins = kl_bins or KL_HISTOGRAM_BINS
    tag = _calibration_tag(calibrate_mode, kl_bins, reader.digest())
    ranges_cache = _ranges_path(fp32_path, tag)
    if nodes_to_exclude:
        tag += f"-x{len(nodes_to_exclude)}-{_names_tag(nodes_to_exclude)}"
    overrides = {t: [{"rmin": np.float32(lo), "rmax": np.float32(hi)}] for t, (lo, hi) in (tensor_ranges or {}).items()}
    if overrides:
        tag += f"-r{len(overrides)}-{_names_tag(f'{t}={lo!r},{hi!r}' for t, (lo, hi) in tensor_ranges.items())}"
    pre_method = getattr(CalibrationMethod, CALIBRATION_METHODS[calibrate_mode])

    def make(out: Path) -> None:
        nonlocal reader
        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            pre = Path(tmp) / "pre.onnx"
            quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
            progress.step()
            part = Path(tmp) / "q.onnx"
            method = pre_method
            fresh = not (ranges_cache.is_file() and ranges_cache.stat().st_mtime >= fp32_path.stat().st_mtime)
            if method == CalibrationMethod.Entropy:
                # quantize_static cannot pass histogram sizes, and its default (128 bins searched
                # for 128 quantised bins) makes the KL search return the full range, i.e. MinMax.
                # Calibrate here with onnxruntime's own Entropy search on 2048 bins (TensorRT's
                # histogram size) and its default 128 quantised bins, and hand the ranges over as a
                # calibration cache. This is onnxruntime's Entropy as a user gets it, not TVM's (vamc's):
                # see reference_kl_threshold for the line where the two differ.
                if fresh:
                    with atomic_path(ranges_cache) as part_cache:
                        _entropy_ranges(pre, reader, Path(tmp), part_cache, kl_bins)
                    progress.step()
                cache, reader = ranges_cache, None
            else:
                # MinMax: quantize_static calibrates and saves its ranges to a new cache path itself;
                # kept (moved into place whole) so the next variant of this calibration skips it
                cache = Path(tmp) / "ranges.json" if fresh else ranges_cache
                reader = reader if fresh else None
            quantize_static(str(pre), str(part), reader, quant_format=QuantFormat.QDQ,
                            activation_type=getattr(QuantType, ACTIVATION_TYPE), weight_type=QuantType.QInt8, per_channel=per_channel,
                            calibrate_method=method, calibration_cache_path=cache,
                            nodes_to_exclude=list(nodes_to_exclude) or None,
                            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True,
                                           **({"TensorQuantOverrides": overrides} if overrides else {})})
            if cache != ranges_cache and cache.is_file():
                os.replace(cache, ranges_cache)
            os.replace(part, out)
    return _variant(fp32_path, f".{tag}{'' if per_channel else '-pt'}.onnx", out_path, make)


KL_HISTOGRAM_BINS = 2048
# Activations uint8 (asymmetric), weights int8 (symmetric, per channel): onnxruntime's own CPU
# guidance, and the only pairing its CPU kernels fuse everywhere. With int8 activations the QDQ
# graph of RDN ran 130 of its 150 Convs as DequantizeLinear -> float Conv -> QuantizeLinear
# (no int8 QLinearConcat/QLinearAdd kernels, so no Conv node unit beside its Concat/Add is fused):
# 0.70x the fp32 speed (`srharness bench rdn --scale 2 --backend ort-int8`; onnxruntime's profiler,
# SessionOptions.enable_profiling: 77% of the time in float Conv, 16% in Q/DQ). With uint8
# activations every Conv, Concat and Add runs quantized (QLinearConv/QLinearConcat/QLinearAdd). An
# asymmetric range has the same 256-step grid either way (the zero point moves by 128), so the
# calibrated ranges and the vamc-like figures are unchanged.
ACTIVATION_TYPE = "QUInt8"       # onnxruntime.quantization.QuantType member
KL_QUANTIZED_BINS = 128


def _calibration_tag(calibrate_mode: str, kl_bins: int, digest: str) -> str:
    return f"int8-{calibrate_mode}{kl_bins if calibrate_mode == 'kl_divergence' else ''}-{digest}"


def _ranges_path(fp32_path: Path, tag: str) -> Path:
    folder, stem = _home(Path(fp32_path))
    return folder / f"{stem}.{tag}.ranges.json"


def entropy_ranges_path(fp32_path: str | Path, calibration_inputs: Iterable[np.ndarray], kl_bins: int | None = None) -> Path:
    """Where `to_int8(..., "kl_divergence")` keeps the Entropy calibration (ranges and histograms) of
    this fp32 model on these inputs."""
    digest = _inputs_digest([np.ascontiguousarray(x, dtype=np.float32) for x in calibration_inputs])
    return _ranges_path(Path(fp32_path), _calibration_tag("kl_divergence", kl_bins or KL_HISTOGRAM_BINS, digest))


def _smooth(p: np.ndarray, eps: float = 1e-4):
    zeros = p == 0
    n_zeros, n_nonzeros = int(zeros.sum()), p.size - int(zeros.sum())
    if not n_nonzeros:
        return None
    eps1 = eps * n_zeros / n_nonzeros
    if eps1 >= 1.0:
        return None
    return p.astype(np.float64) + eps * zeros - eps1 * ~zeros


def reference_kl_threshold(hist, edges, num_quantized_bins: int = KL_QUANTIZED_BINS, coarse_step: int = 1) -> float:
    """The KL-divergence threshold search of TensorRT's GTC 2017 method as MXNet and TVM implement it
    (tvm/relay/quantize/kl_divergence.py `_find_scale_by_kl`), vectorised per candidate.

    Kept here rather than calling onnxruntime's `HistogramCollector.get_entropy_threshold` because
    that one (1.32) omits the reference's `q[p == 0] = 0`: it spreads each quantised bin's mass over
    the bins where the reference distribution is empty. On a ReLU output (the negative half of the
    symmetric histogram is empty) that favours narrow windows: on VDSR its thresholds are 2-4x
    smaller than this search's, and every activation clips (srharness diagnose shows it).
    coarse_step > 1 tries every coarse_step-th candidate, then every one around the best (the
    divergence curve is smooth at thousands of bins): what the fake vamc uses at TVM's 8001 bins."""
    hist = np.asarray(hist, np.float64)
    num_bins = hist.size
    zero = num_bins // 2
    half = num_quantized_bins // 2
    cum = np.concatenate([[0.0], np.cumsum(hist)])

    def divergence(i: int) -> float:
        start, stop = zero - i, min(zero + i + 1, num_bins)
        sliced = hist[start:stop]
        p = sliced.copy()
        p[0] += cum[start]
        p[-1] += cum[-1] - cum[stop]
        merged = sliced.size // num_quantized_bins
        q_bins = np.add.reduceat(sliced[: merged * num_quantized_bins], np.arange(num_quantized_bins) * merged)
        q_bins[-1] += sliced[merged * num_quantized_bins:].sum()
        nonzero = p != 0
        group = np.minimum(np.arange(sliced.size) // merged, num_quantized_bins - 1)
        norm = np.bincount(group, weights=nonzero, minlength=num_quantized_bins)
        q = np.where(nonzero, q_bins[group] / np.maximum(norm[group], 1), 0.0)     # the reference's q[p == 0] = 0
        ps, qs = _smooth(p), _smooth(q)
        if ps is None or qs is None:
            return np.inf
        ps, qs = ps / ps.sum(), qs / qs.sum()
        return float(np.sum(ps * np.log(ps / qs)))

    candidates = range(half, zero + 1, max(1, coarse_step))
    best_i = min(candidates, key=divergence)
    if coarse_step > 1:
        best_i = min(range(max(half, best_i - coarse_step), min(zero, best_i + coarse_step) + 1), key=divergence)
    return float(edges[min(zero + best_i + 1, num_bins)])


def observed_range(entry: dict) -> tuple[float, float]:
    """The range a calibration entry's non-empty histogram bins cover (bin resolution). A calibrated
    range starting at >= 0 means onnxruntime clamped it to the true minimum, which is then >= 0 (a
    ReLU output): the observed range starts there too."""
    hist, edges = np.asarray(entry["hist"]), entry["edges"]
    nz = np.flatnonzero(hist)
    if nz.size == 0:
        return 0.0, 0.0
    lo, hi = float(edges[nz[0]]), float(edges[nz[-1] + 1])
    return (max(lo, 0.0) if entry["range"][0] >= 0 else lo), hi


def read_entropy_calibration(path: str | Path) -> dict[str, dict]:
    """{tensor: {"range": (lo, hi), "hist": array, "edges": array}} from an Entropy calibration file
    written by `to_int8` (onnxruntime's `save_tensors_data`)."""
    from onnxruntime.quantization.calibrate import load_tensors_data
    try:
        data = load_tensors_data(str(path))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise QuantizeError(f"{path}: not a readable onnxruntime calibration file ({exc})") from None
    out = {}
    for name, td in data.items():
        hist, edges = getattr(td, "hist", None), getattr(td, "bins", None)
        if hist is None or edges is None:
            raise QuantizeError(f"{path}: tensor {name} has no histogram (not an Entropy calibration)")
        lo, hi = td.range_value
        out[name] = {"range": (float(lo), float(hi)), "hist": np.asarray(hist), "edges": np.asarray(edges)}
    return out


def reference_kl_ranges(calibration: dict[str, dict], num_quantized_bins: int = KL_QUANTIZED_BINS) -> dict[str, tuple[float, float]]:
    """Per-tensor ranges from the same histograms with `reference_kl_threshold`, kept inside the
    observed range as onnxruntime does (a ReLU output keeps [0, t]: the QDQ graph drops the ReLU
    on that promise)."""
    ranges = {}
    for name, c in calibration.items():
        t = reference_kl_threshold(c["hist"], c["edges"], num_quantized_bins)
        lo, hi = observed_range(c)
        ranges[name] = (max(-t, lo), min(t, hi))
    return ranges


def _entropy_ranges(model_path: Path, reader: ProtocolCalibrationReader, tmp: Path, cache: Path, bins: int) -> None:
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data
    calibrator = create_calibrator(model_path, augmented_model_path=str(tmp / "augmented.onnx"),
                                   calibrate_method=CalibrationMethod.Entropy,
                                   extra_options={"num_bins": bins,
                                                  "num_quantized_bins": KL_QUANTIZED_BINS})
    # The histogram collector stacks one collect_data call's outputs into one array, which fails
    # ("inhomogeneous shape") for images of different sizes (benchmark protocol on Set5). So each
    # input shape is collected in its own call; the collector merges the histograms across calls.
    # A same-size set (the guides' fixed 256x256 / 1080x1920) is still one call: ranges unchanged.
    for group in reader.by_shape():
        calibrator.collect_data(group)
    save_tensors_data(calibrator.compute_data(), cache)
