"""Compiled CPU variants of an fp32 ONNX model: fp16 and int8 (QDQ, static, calibrated).

- fp16: `onnxruntime.transformers.float16.convert_float_to_float16(keep_io_types=True)`, so the
  runner still feeds and reads float32, as a vacc fp16 deployment does behind its vdsp.
- int8: `onnxruntime.quantization.quantize_static` in QDQ format, calibrated on protocol inputs
  made from images of the dataset (`ProtocolCalibrationReader`). The VastAI guides' vamc
  `quantize.calibrate_mode` maps to onnxruntime's calibration methods as in `CALIBRATION_METHODS`:
  `max` -> MinMax, `kl_divergence` -> Entropy (onnxruntime's KL-divergence histogram method).
  Per-channel weights, as the guides' `quantize_per_channel: true`.

Results are cached on disk next to the fp32 model, keyed by the variant and the calibration
set, and written to a temporary name then renamed (never half-written).
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

# vamc calibrate_mode -> onnxruntime CalibrationMethod name
CALIBRATION_METHODS = {"max": "MinMax", "kl_divergence": "Entropy", "percentile": "Percentile"}
# our backend spellings -> vamc calibrate_mode
INT8_BACKENDS = {"ort-int8": "max", "ort-int8-minmax": "max", "ort-int8-entropy": "kl_divergence"}


class QuantizeError(RuntimeError):
    pass


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
    out_path = Path(out_path) if out_path else fp32_path.with_name(f"{fp32_path.stem}{blocked}.fp16.onnx")
    if out_path.is_file() and out_path.stat().st_mtime >= fp32_path.stat().st_mtime:
        return out_path
    model = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True,
                                     node_block_list=list(node_block_list) or None)
    return _atomic_save(model, out_path)


class ProtocolCalibrationReader:
    """onnxruntime CalibrationDataReader over a list of model inputs (NCHW float32 arrays)."""

    def __init__(self, input_name: str, inputs: Iterable[np.ndarray]):
        self.input_name = input_name
        self._inputs = [np.ascontiguousarray(x, dtype=np.float32) for x in inputs]
        if not self._inputs:
            raise QuantizeError("calibration needs at least one input image")
        self._iter = iter(self._inputs)

    def get_next(self):
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
        h = hashlib.sha256()
        for x in self._inputs:
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
             nodes_to_exclude=()) -> Path:
    """QDQ int8 model calibrated on `calibration_inputs`; `calibrate_mode` is the vamc name.
    kl_bins: histogram bins for kl_divergence (default KL_HISTOGRAM_BINS; fewer is faster: the
    threshold search is quadratic in the bins). nodes_to_exclude: node names left in float
    (onnxruntime's own option); the Entropy ranges do not depend on it, so they are computed once
    per calibration set and kept beside the fp32 file (srharness.diagnose re-quantizes many times)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if calibrate_mode not in CALIBRATION_METHODS:
        raise QuantizeError(f"calibrate_mode {calibrate_mode!r} unknown; vamc modes: {', '.join(CALIBRATION_METHODS)}")
    fp32_path = Path(fp32_path)
    input_name = onnx.load(str(fp32_path), load_external_data=False).graph.input[0].name
    reader = ProtocolCalibrationReader(input_name, calibration_inputs)
    kl_bins = kl_bins or KL_HISTOGRAM_BINS
    tag = f"int8-{calibrate_mode}{kl_bins if calibrate_mode == 'kl_divergence' else ''}-{reader.digest()}"
    ranges_cache = fp32_path.with_name(f"{fp32_path.stem}.{tag}.ranges.json")
    if nodes_to_exclude:
        tag += f"-x{len(nodes_to_exclude)}-{_names_tag(nodes_to_exclude)}"
    out_path = Path(out_path) if out_path else fp32_path.with_name(f"{fp32_path.stem}.{tag}.onnx")
    if out_path.is_file() and out_path.stat().st_mtime >= fp32_path.stat().st_mtime:
        return out_path
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        part = Path(tmp) / "q.onnx"
        method = getattr(CalibrationMethod, CALIBRATION_METHODS[calibrate_mode])
        cache = None
        if method == CalibrationMethod.Entropy:
            # quantize_static cannot pass histogram sizes, and its default (128 bins searched
            # for 128 quantised bins) makes the KL search return the full range, i.e. MinMax.
            # Calibrate here with the KL-divergence convention of TensorRT and TVM (2048 bins,
            # 128 quantised bins) and hand the ranges over as a calibration cache.
            cache = ranges_cache
            if not (cache.is_file() and cache.stat().st_mtime >= fp32_path.stat().st_mtime):
                with atomic_path(cache) as part_cache:
                    _entropy_ranges(pre, reader, Path(tmp), part_cache, kl_bins)
            reader = None
        quantize_static(str(pre), str(part), reader, quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=per_channel,
                        calibrate_method=method, calibration_cache_path=cache,
                        nodes_to_exclude=list(nodes_to_exclude) or None,
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
        os.replace(part, out_path)
    return out_path


KL_HISTOGRAM_BINS = 2048
KL_QUANTIZED_BINS = 128


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
