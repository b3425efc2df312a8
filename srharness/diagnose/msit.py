"""msit / msprobe compare result CSV as srharness.diagnose's per-node table: the rows are read by
the vendor tool's parser (srharness.tools.msit), judged here with the diagnose thresholds (the
tools layer sits below diagnose and never imports it)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from srharness.tools.msit import _INDEX, METRICS, MSPROBE_COLUMNS, OUTPUT_FILES_ROW, SOURCE, MsitCsvError, _number, iter_rows

from .metrics import NodeError, Thresholds, judge_nodes


def read_compare_csv(path: str | Path, thresholds=None) -> dict[str, Any]:
    """The per-node table (srharness.diagnose form) of an msit compare result, judged with the same
    thresholds, plus the first row over each of msit's own analyser monitors."""
    thresholds = thresholds or Thresholds()
    nodes: list[NodeError] = []
    inputs_of: dict[str, list[float]] = {}
    outputs = []
    tool = "msit"
    computable = 0
    for r in iter_rows(path):
        if "IsOutputNode" in r:
            tool = "msprobe"
        if r["NPUDump"] == OUTPUT_FILES_ROW:
            continue   # the output dump files' paths, not an operator
        where = f"{path}: row Index={r.get('Index', '')[:20]}"
        tensor = r["TensorIndex"]
        parts = tensor.rsplit(":", 2)
        direction = parts[1] if len(parts) == 3 else "output"
        red = _number(r.get("RelativeEuclideanDistance", ""), f"{where} RelativeEuclideanDistance")
        sqnr = (-20 * math.log10(red) if red > 0 else 200.0) if red is not None else None
        if direction == "input":
            if sqnr is not None:
                inputs_of.setdefault(r["NPUDump"], []).append(sqnr)
            continue
        if not _INDEX.fullmatch(r["Index"]):
            raise MsitCsvError(f"{where}: Index {r['Index'][:40]!r} is not a row number (0..999999999)")
        depth = int(r["Index"])
        metrics = {c: _number(r.get(c, ""), f"{where} {c}") for c in METRICS if c in r}
        computable += any(v is not None for v in metrics.values())
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
                                "compare_fail_reason": r.get("CompareFailReason") or None,
                                **({"is_output_node": r["IsOutputNode"].upper() == "TRUE",
                                    "is_precision_error": r.get("IsPrecisionError", "").upper() == "TRUE",
                                    "is_npu_op": r.get("IsNpuOps", "").upper() == "TRUE"}
                                   if "IsOutputNode" in r else {})})
        nodes.append(node)
        outputs.append(node)
    if not nodes:
        raise MsitCsvError(f"{path}: no output rows (TensorIndex '<op>:output:<n>') to tabulate")
    if not computable:
        raise MsitCsvError(f"{path}: no output row has a computable metric (all NaN); CompareFailReason says why "
                           "the tool could not compare; nothing can be judged from this file")
    for n in nodes:
        ins = inputs_of.get(n.node)
        if ins:
            n.input_sqnr_db = min(ins)
    marked = [n for n in outputs if n.extra.get("is_output_node")]
    for n in marked or [max(outputs, key=lambda n: n.depth)]:
        n.extra["graph_output"] = True   # msprobe marks it (IsOutputNode); msit does not: the last operator stands in
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
    fmt = ("msprobe compare -m offline_model result CSV (msit's columns + " + ", ".join(MSPROBE_COLUMNS) + ")"
           if tool == "msprobe" else f"msit debug compare result CSV ({SOURCE})")
    return {"source": str(path), "format": fmt, "tool": tool,
            "nodes": [n.to_dict() for n in nodes], **summary, "rules": thresholds.rules(),
            "keep_dtype_candidates": sorted({g for n in nodes if n.diverged for g in n.extra["ground_truth"]})}
