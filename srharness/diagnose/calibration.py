"""Calibration: the quantized activations' ranges against the reference KL search's, and the overrides file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .localisation import _strip_qdq


# ------------------------------------------------------------------ calibration: the ranges themselves
def quantized_activations(variant_onnx: str | Path) -> list[str]:
    """Activation tensors the QDQ variant quantizes (inputs of its QuantizeLinear nodes, weights
    excluded), in graph order: what `TensorQuantOverrides` can re-range."""
    import onnx
    var = onnx.load(str(variant_onnx), load_external_data=False)
    inits = {t.name for t in var.graph.initializer}
    return list(dict.fromkeys(_strip_qdq(n.input[0]) for n in var.graph.node     # a graph output is renamed
                              if n.op_type == "QuantizeLinear" and n.input[0] not in inits))


def _clipped_mass(hist: np.ndarray, edges: np.ndarray, lo: float, hi: float) -> float:
    """Share of the histogram's values beyond [lo, hi] (bin centres)."""
    centres = (edges[:-1] + edges[1:]) / 2
    total = float(hist.sum())
    return float(hist[(centres < lo) | (centres > hi)].sum()) / total if total else 0.0


def calibration_table(calibration: dict[str, dict], tensors: Sequence[str],
                      reference: dict[str, tuple[float, float]]) -> list[dict[str, Any]]:
    """Per quantized activation: the calibrated range, the reference search's on the same histogram,
    the observed range, the share of values each clips, and how much wider the reference is."""
    from srharness.quantize import observed_range
    rows = []
    for t in tensors:
        c = calibration.get(t)
        if c is None or t not in reference:
            continue
        lo, hi = c["range"]
        rlo, rhi = reference[t]
        rows.append({"tensor": t, "calibrated_range": [lo, hi], "reference_range": [rlo, rhi],
                     "observed_range": list(observed_range(c)),
                     "calibrated_clips": _clipped_mass(c["hist"], c["edges"], lo, hi),
                     "reference_clips": _clipped_mass(c["hist"], c["edges"], rlo, rhi),
                     "widening": (rhi - rlo) / (hi - lo) if hi > lo else None})     # None: empty range
    return rows


ORT_KL_NOTE = ("onnxruntime's Entropy calibrator (HistogramCollector.get_entropy_threshold) expands each "
               "quantised bin over every bin of its group, where the reference search it cites (TensorRT's "
               "GTC 2017 method as MXNet and TVM implement it: tvm/relay/quantize/kl_divergence.py "
               "_find_scale_by_kl) then sets q[p == 0] = 0. On a ReLU output the negative half of the "
               "symmetric histogram is empty, so onnxruntime's search favours narrow windows and clips.")


def write_calibration_fix(ranges: dict[str, tuple[float, float]], out_dir: str | Path,
                          calibrate_mode: str) -> dict[str, Any]:
    """The corrected ranges as onnxruntime's `extra_options["TensorQuantOverrides"]`, plus what the
    other toolchains need (nothing for vamc, whose kl_divergence is TVM's reference search)."""
    from srharness.fileio import atomic_write_text
    out_dir = Path(out_dir)
    doc = {"TensorQuantOverrides": {t: [{"rmin": float(lo), "rmax": float(hi)}] for t, (lo, hi) in ranges.items()},
           "usage": "quantize_static(..., extra_options={'TensorQuantOverrides': {t: [{'rmin': np.float32(rmin), "
                    "'rmax': np.float32(rmax)}] ...}}): onnxruntime takes the range of each listed tensor from "
                    "here instead of from its calibrator"}
    f = atomic_write_text(out_dir / "ort_tensor_quant_overrides.json", json.dumps(doc, indent=2) + "\n")
    return {"ort": {"option": "extra_options.TensorQuantOverrides", "file": str(f), "tensors": len(ranges)},
            "vamc": {"documented": True, "note": f"vamc calibrate_mode: {calibrate_mode} is TVM's relay calibration, "
                     "whose KL search is the reference one: nothing to change there"},
            "atc": {"note": "not applicable: the Ascend path of these guides is fp16 (--precision_mode), no int8 "
                    "calibration"}}
