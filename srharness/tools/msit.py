"""Ascend `msit debug compare` (formerly `ait debug compare`) result CSVs, read into the per-node
table of srharness.diagnose, so an om-vs-onnx comparison made on an Ascend machine lands in the same
report as onnxruntime's.

The file is `{output}/{timestamp}/result_{timestamp}.csv`; its columns are documented in CANN's
"Parameters in a Complete Model Comparison Result" and ait's result_analyse README:

    Index, [OpSequence], OpType, NPUDump, DataType, Address, GroundTruth, DataType, TensorIndex, Shape,
    [OverFlow], CosineSimilarity, MaxAbsoluteError, AccumulatedRelativeError, RelativeEuclideanDistance,
    KullbackLeiblerDivergence, StandardDeviation, MeanAbsoluteError, RootMeanSquareError,
    MaxRelativeError, MeanRelativeError, CompareFailReason

The first DataType is the NPU side's, the second the ground truth's (the header repeats the name).
NPUDump is the om operator (after fusion), GroundTruth the original model's operators it stands for
(comma-separated; `*` when there is none), TensorIndex `<NPUDump>:<input|output>:<n>`. Values that
could not be computed are `NaN` with the reason in CompareFailReason. OpSequence appears only with
`-r`/`-s`, OverFlow only with `-overflow_detection`; the metric columns follow the algorithms chosen.

Mapping into srharness.diagnose.NodeError: cosine = CosineSimilarity, relative_l2 =
RelativeEuclideanDistance (the same quantity: |a - b| / |a|), sqnr_db = -20 log10(relative_l2)
(exact, by that definition), max/mean abs error as given; the other columns are kept under `extra`.
An operator's `input` rows give its inputs' error, so `gain_db` (error introduced by the operator)
is computed as for onnxruntime graphs. NaN/Inf counts are not in the CSV (left 0); OverFlow YES sets
fp16_overflow_count to 1 (a flag per tensor, not an element count).
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any
from srharness.errors import InputError

MAX_BYTES = 256 * 1024 * 1024          # a whole-network compare of a large model is tens of MB
REQUIRED = ("Index", "NPUDump", "GroundTruth", "TensorIndex", "CosineSimilarity")
METRICS = ("CosineSimilarity", "MaxAbsoluteError", "AccumulatedRelativeError", "RelativeEuclideanDistance",
           "KullbackLeiblerDivergence", "MeanAbsoluteError", "RootMeanSquareError", "MaxRelativeError",
           "MeanRelativeError")
SOURCE = ("CANN docs 'Parameters in a Complete Model Comparison Result'; "
          "ait examples/cli/debug/compare/result_analyse/README.md")


class MsitCsvError(InputError):
    """A file that is not an msit compare result; the message names the file and what is wrong."""


def _number(text: str, where: str) -> float | None:
    text = (text or "").strip()
    if text == "" or text.lower() in ("nan", "none", "n/a", "-"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise MsitCsvError(f"{where}: {text!r} is not a number (expected a value or NaN)") from None
    return value if math.isfinite(value) else None


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The CSV's rows as dicts; the two DataType columns become DataType (NPU) and GroundTruthDataType."""
    path = Path(path)
    if not path.is_file():
        raise MsitCsvError(f"{path}: no such file (msit writes result_<timestamp>.csv under its -o folder)")
    if path.stat().st_size > MAX_BYTES:
        raise MsitCsvError(f"{path}: {path.stat().st_size} bytes, more than the {MAX_BYTES} this reader accepts")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MsitCsvError(f"{path}: not UTF-8 text ({exc.reason}); is it an msit compare result CSV?") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise MsitCsvError(f"{path}: empty file")
    header = [h.strip() for h in header]
    names, seen_dtype = [], 0
    for h in header:
        if h == "DataType":
            names.append("DataType" if seen_dtype == 0 else "GroundTruthDataType")
            seen_dtype += 1
        else:
            names.append(h)
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise MsitCsvError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(header)}. "
                           f"Expected an msit/ait `debug compare` result_*.csv ({SOURCE})")
    rows = []
    for lineno, values in enumerate(reader, start=2):
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(names):
            raise MsitCsvError(f"{path}:{lineno}: {len(values)} fields, the header has {len(names)}")
        rows.append(dict(zip(names, (v.strip() for v in values))))
    return rows


def read_compare_csv(path: str | Path, thresholds=None) -> dict[str, Any]:
    """The per-node table (srharness.diagnose form) of an msit compare result, judged with the same
    thresholds, plus the first row over each of msit's own analyser monitors."""
    from srharness.diagnose import NodeError, Thresholds, judge_nodes
    thresholds = thresholds or Thresholds()
    rows = read_rows(path)
    nodes: list[NodeError] = []
    inputs_of: dict[str, list[float]] = {}
    outputs = []
    for i, r in enumerate(rows):
        where = f"{path}: row Index={r.get('Index')}"
        tensor = r["TensorIndex"]
        parts = tensor.rsplit(":", 2)
        direction = parts[1] if len(parts) == 3 else "output"
        red = _number(r.get("RelativeEuclideanDistance", ""), f"{where} RelativeEuclideanDistance")
        sqnr = (-20 * math.log10(red) if red > 0 else 200.0) if red is not None else None
        if direction == "input":
            if sqnr is not None:
                inputs_of.setdefault(r["NPUDump"], []).append(sqnr)
            continue
        try:
            depth = int(float(r["Index"]))
        except ValueError:
            raise MsitCsvError(f"{where}: Index {r['Index']!r} is not an integer") from None
        metrics = {c: _number(r.get(c, ""), f"{where} {c}") for c in METRICS if c in r}
        ground_truth = [g for g in r["GroundTruth"].split(",") if g and g != "*"]
        node = NodeError(tensor=tensor, node=r["NPUDump"], op_type=r.get("OpType", ""), depth=depth,
                         cosine=metrics.get("CosineSimilarity"), sqnr_db=sqnr, relative_l2=red,
                         max_abs_error=metrics.get("MaxAbsoluteError"), mean_abs_error=metrics.get("MeanAbsoluteError"),
                         fp16_overflow_count=1 if r.get("OverFlow", "").upper() == "YES" else 0, source="msit",
                         extra={"ground_truth": ground_truth, "npu_dtype": r.get("DataType"),
                                "ground_truth_dtype": r.get("GroundTruthDataType"), "shape": r.get("Shape"),
                                "kld": metrics.get("KullbackLeiblerDivergence"), "rmse": metrics.get("RootMeanSquareError"),
                                "mean_relative_error": metrics.get("MeanRelativeError"),
                                "max_relative_error": metrics.get("MaxRelativeError"),
                                "accumulated_relative_error": metrics.get("AccumulatedRelativeError"),
                                "standard_deviation": r.get("StandardDeviation"),
                                "compare_fail_reason": r.get("CompareFailReason") or None})
        nodes.append(node)
        outputs.append(node)
    if not nodes:
        raise MsitCsvError(f"{path}: no output rows (TensorIndex '<op>:output:<n>') to tabulate")
    for n in nodes:
        ins = inputs_of.get(n.node)
        if ins:
            n.input_sqnr_db = min(ins)
    last = max(outputs, key=lambda n: n.depth)
    last.extra["graph_output"] = True          # the CSV does not mark outputs: the last operator's stands in
    summary = judge_nodes(nodes, thresholds)
    monitors = {"CosineSimilarity": lambda n: n.cosine is not None and n.cosine < thresholds.cosine_min,
                "RelativeEuclideanDistance": lambda n: n.relative_l2 is not None
                and n.relative_l2 > thresholds.relative_l2_max,
                "KullbackLeiblerDivergence": lambda n: (n.extra["kld"] or 0) > thresholds.kld_max,
                "RootMeanSquareError": lambda n: (n.extra["rmse"] or 0) > thresholds.rmse_max,
                "MeanRelativeError": lambda n: (n.extra["mean_relative_error"] or 0)
                > thresholds.mean_relative_error_max}
    first_over = {}
    for name, over in monitors.items():
        hit = next((n for n in nodes if over(n)), None)
        first_over[name] = None if hit is None else {"node": hit.node, "tensor": hit.tensor, "depth": hit.depth,
                                                     "ground_truth": hit.extra["ground_truth"]}
    summary["first_over"] = first_over
    return {"source": str(path), "format": f"msit debug compare result CSV ({SOURCE})",
            "nodes": [n.to_dict() for n in nodes], **summary, "rules": thresholds.rules(),
            "keep_dtype_candidates": sorted({g for n in nodes if n.diverged for g in n.extra["ground_truth"]})}
