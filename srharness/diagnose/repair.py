"""Repair: rank the nodes, bisect-and-refine the smallest exclusion set, write the fix per toolchain."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .localisation import _TRANSPARENT_OPS
from .metrics import DiagnoseError


# ------------------------------------------------------------------ repair search
@dataclass
class Trial:
    excluded: tuple[str, ...]
    psnr: float
    passed: bool
    seconds: float
    step: str


@dataclass
class RepairResult:
    excluded_nodes: list[str]
    candidates: int
    passed: bool
    trials: list[Trial]
    bound: int
    ranking: list[str]
    note: str = ""


def repair_bound(n: int) -> int:
    """Upper bound on figure re-runs for n ranked candidates: before + all-excluded + bisection
    (ceil log2 n) + refinement (<= n, in practice the prefix length k)."""
    return 2 + max(0, math.ceil(math.log2(max(n, 1)))) + n


def search_exclusions(ranked: Sequence[str], judge: Callable[[tuple[str, ...], str], Trial],
                      max_runs: int | None = None) -> RepairResult:
    """The smallest set of nodes (from `ranked`, most suspect first) whose exclusion passes.
    `judge(excluded, step)` re-runs the real figure. Bisect over prefixes, then refine (drop each kept
    node, least suspect first, when the figure still passes without it). Assumes the figure improves
    as more nodes are excluded (checked at both ends; the refinement re-checks every removal)."""
    n = len(ranked)
    bound = repair_bound(n)
    max_runs = bound if max_runs is None else max(2, min(max_runs, bound))
    trials: list[Trial] = []
    cache: dict[frozenset, Trial] = {}

    def run(excluded: Sequence[str], step: str) -> Trial:
        key = frozenset(excluded)
        if key not in cache:
            if len(trials) >= max_runs:
                raise _OutOfRuns()
            cache[key] = judge(tuple(excluded), step)
            trials.append(cache[key])
        return cache[key]

    try:
        before = run((), "before")
        if before.passed:
            return RepairResult([], n, True, trials, bound, list(ranked), "the figure already passes: nothing to exclude")
        if n == 0:
            return RepairResult([], 0, False, trials, bound, [], "no candidate node to keep in higher precision")
        if not run(tuple(ranked), "all-excluded").passed:
            return RepairResult(list(ranked), n, False, trials, bound, list(ranked),
                                "even with every candidate excluded the figure fails: not a precision problem of "
                                "these nodes (check the protocol, the reference, or the nodes not quantized here)")
        lo, hi = 0, n            # prefix of length lo fails (lo = 0: before), of length hi passes
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if run(tuple(ranked[:mid]), f"bisect k={mid}").passed:
                hi = mid
            else:
                lo = mid
        kept = list(ranked[:hi])
        for node in reversed(ranked[:hi]):           # refine: least suspect first
            if len(kept) == 1:
                break
            trial = [k for k in kept if k != node]
            if run(tuple(trial), f"refine -{node}").passed:
                kept = trial
        return RepairResult(kept, n, True, trials, bound, list(ranked))
    except _OutOfRuns:
        passing = [t for t in trials if t.passed]
        best = min(passing, key=lambda t: len(t.excluded)) if passing else None
        return RepairResult(list(best.excluded) if best else [], n, best is not None, trials, bound, list(ranked),
                            f"stopped at max_runs={max_runs}; smallest passing set seen so far")


class _OutOfRuns(Exception):
    pass


def rank_candidates(nodes: Sequence[dict], candidates: Iterable[str]) -> list[str]:
    """Candidate node names, most suspect first: nodes whose output holds NaN/Inf (fp16 overflow),
    then the SQNR a node loses against its inputs (`gain_db`), then its own output's SQNR (lower
    first). Candidates with no compared output last, in graph order."""
    cand = list(dict.fromkeys(candidates))
    score: dict[str, tuple] = {}
    for row in nodes:
        name = row["node"]
        if name not in cand:
            continue
        gain = row.get("gain_db")
        sqnr = row.get("sqnr_db")
        nonfinite = (row.get("nan_count") or 0) + (row.get("inf_count") or 0) > 0
        key = (not nonfinite, -(gain if gain is not None else -1e9), sqnr if sqnr is not None else 1e9)
        score[name] = min(score.get(name, key), key)
    order = {n: i for i, n in enumerate(cand)}
    return sorted(cand, key=lambda n: (n not in score, score.get(n, (True, 0, 0)), order[n]))


def candidate_nodes(reference_onnx: str | Path, kind: str, variant_onnx: str | Path | None = None) -> list[str]:
    """Nodes of the float graph the variant lowers, in graph order. int8: the nodes that read a
    DequantizeLinear or feed a QuantizeLinear in the QDQ variant (what onnxruntime actually quantized:
    Conv, Add, ...; a ReLU folded into its producer's quantisation is gone and has nothing to exclude).
    fp16: every compute node (Cast excluded)."""
    import onnx
    ref = onnx.load(str(reference_onnx), load_external_data=False)
    names = [n.name for n in ref.graph.node if n.name and n.op_type not in _TRANSPARENT_OPS]
    if kind != "int8":
        return names
    if variant_onnx is None:
        raise DiagnoseError("int8 candidates are read from the quantized variant: pass variant_onnx")
    var = onnx.load(str(variant_onnx), load_external_data=False)
    dq_out = {n.output[0] for n in var.graph.node if n.op_type == "DequantizeLinear"}
    q_in = {n.input[0] for n in var.graph.node if n.op_type == "QuantizeLinear"}
    touched = {n.name for n in var.graph.node if n.op_type not in _TRANSPARENT_OPS
               and (any(i in dq_out for i in n.input) or any(o in q_in for o in n.output))}
    return [n for n in names if n in touched]


# ------------------------------------------------------------------ the fix, in each toolchain's form
VAMC_NOTE = ("VastModelZOO's vamc build YAMLs document only backend.quantize.calibrate_mode and "
             "quantize_per_channel (e.g. cv/super_resolution/vdsr/build_in/build/official_vdsr.yaml); no "
             "skip-layer option is documented for vamc. open-mmlab/mmdeploy's vacc backend config "
             "(configs/_base_/backends/vacc.py) passes qconfig.skip_conv_layers, TVM relay's list of conv2d "
             "indices in graph order; the indices below follow that convention and are unverified on a card.")
ATC_NOTE = ("atc --keep_dtype=<file> --precision_mode=force_fp16: one original-model operator name per line "
            "(CANN ATC docs, --keep_dtype); names can change when atc fuses operators, check the build log")


def write_fix(excluded: Sequence[str], reference_onnx: str | Path, out_dir: str | Path, kind: str) -> dict[str, Any]:
    """ORT exclusion list (JSON), ATC --keep_dtype file, and the vamc hint, under out_dir."""
    import onnx

    from srharness.fileio import atomic_write_text
    out_dir = Path(out_dir)
    key = "nodes_to_exclude" if kind == "int8" else "node_block_list"
    ort_file = atomic_write_text(out_dir / f"ort_{key}.json", json.dumps({key: list(excluded)}, indent=2) + "\n")
    atc_file = atomic_write_text(out_dir / "atc_keep_dtype.cfg", "".join(f"{n}\n" for n in excluded))
    model = onnx.load(str(reference_onnx), load_external_data=False)
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    skip = [i for i, n in enumerate(convs) if n in set(excluded)]
    return {"ort": {"option": key, "file": str(ort_file), "value": list(excluded)},
            "atc": {"option": "--keep_dtype", "file": str(atc_file), "note": ATC_NOTE},
            "vamc": {"documented": False, "note": VAMC_NOTE, "skip_conv_layers": skip,
                     "non_conv_nodes": [n for n in excluded if n not in convs]}}
