"""Localise and repair an accuracy drop of a compiled variant (int8 QDQ, fp16) against its fp32 graph.

    result = diagnose(DiagnoseConfig(model="vdsr", scale=4, backend="ort-int8-entropy",
                                     protocol="vdsr-vacc", data_dir="../shared/data", weights="auto"), repair=True)
    result["first_divergent_node"], result["nodes"], result["repair"]["excluded_nodes"]

Localise. The reference is onnxruntime fp32 on the float ONNX graph the variant was made from (for
int8: the `quant_pre_process`ed export that `quantize_static` consumed, so tensor and node names
match; its final output is checked against torch fp32 and the difference reported). Both graphs get
every intermediate tensor exposed with onnxruntime's own `quantization.qdq_loss_debug`
(`modify_model_output_intermediate_tensors`, `collect_activations`, then `create_activation_matching`
for QDQ pairs and `create_weight_matching` for weights; fp16 graphs are matched by tensor name, the
same way). The debug sessions run with graph optimisation off (qdq_loss_debug's default), which is
not what the deployed session runs (ORT fuses QDQ into QLinearConv), so the deployed model is run on
the same inputs and its final output compared with the debug graph's (`debug_graph_check`).
Inputs are the protocol's own model inputs for the dataset's images, one image at a time (bounded
memory: only running sums are kept, never all activations of all images).

Per tensor (named by the node that produces it in the variant graph, the name `nodes_to_exclude` and
`node_block_list` take): cosine similarity, SQNR (dB, onnxruntime's definition), relative L2, max and
mean abs error, NaN/Inf counts in the variant, fp16 overflow count (reference values beyond fp16's
range), plus onnxruntime's local QDQ error (pre- vs post-QDQ) and the node's weight SQNR. Each node's
error is compared with its inputs' (`gain_db`: SQNR lost at this node), which says whether the error
is introduced there or inherited. Thresholds and rules: `Thresholds` (data, with the rule text).

Repair. Candidates (nodes the variant quantized / converted) are ranked by the error they introduce;
a binary search finds the shortest prefix of the ranking whose exclusion passes the figure's rule,
then each kept node is dropped again if the figure still passes without it (Polygraphy's `debug
precision`: bisect, then refine). Every step re-runs the real figure: the protocol's mean PSNR on the
dataset through the deployed (optimised) session, judged by the golden's rule against torch fp32
measured in the same run. Re-runs are bounded: 2 + ceil(log2 n) for the search (before, all
excluded, bisection) plus at most k for the refinement (k = the prefix found), and never more than
`max_runs`.

Calibration. When the smallest node set is most of the graph and the variant is Entropy-calibrated,
the error is not held in a few layers: the ranges are. `calibration_table` compares, per quantized
activation and on the very histograms the calibrator kept, its range with the reference KL search's
(`quantize.reference_kl_threshold`, TVM's, which onnxruntime's omits one line of) and with the
observed range, and says how much of the data each clips. The repair then re-runs the real figure
with the reference ranges (onnxruntime's `TensorQuantOverrides`), searches the smallest set of
tensors that needs them (the same bisect-and-refine), and writes the overrides file.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

INT8_BACKENDS = ("ort-int8", "ort-int8-minmax", "ort-int8-entropy")
FP16_BACKENDS = ("ort-fp16",)
DIAGNOSABLE_BACKENDS = INT8_BACKENDS + FP16_BACKENDS
# ops that only move a tensor between precisions: walked through to find a node's real inputs
_TRANSPARENT_OPS = {"QuantizeLinear", "DequantizeLinear", "Cast"}
FP16_MAX = 65504.0


class DiagnoseError(ValueError):
    """The diagnosis cannot run as asked (unknown backend, nothing comparable, bad file)."""


# ------------------------------------------------------------------ thresholds (data, with their rules)
@dataclass(frozen=True)
class Thresholds:
    """When a tensor counts as diverged, and how a node's error is attributed. Defaults are the
    Ascend ait/msit `debug compare` analyser's monitors (ait examples/cli/debug/compare/
    result_analyse/README.md: CosineSimilarity < 0.99, RelativeEuclideanDistance > 0.05,
    KullbackLeiblerDivergence > 0.005, RootMeanSquareError > 1.0, MeanRelativeError > 1.0)."""
    cosine_min: float = 0.99
    relative_l2_max: float = 0.05
    kld_max: float = 0.005                 # msit CSVs only (not computed here)
    rmse_max: float = 1.0                  # msit CSVs only
    mean_relative_error_max: float = 1.0   # msit CSVs only
    introduced_gain_db: float = 3.0
    debug_margin_db: float = 10.0

    def rules(self) -> dict[str, str]:
        return {
            "diverged": f"cosine similarity < {self.cosine_min:g} (msit/ait analyser's CosineSimilarity monitor); "
                        f"first_divergent_node is the first such tensor in topological order",
            "relative_l2": f"relative L2 (= msit RelativeEuclideanDistance) > {self.relative_l2_max:g} is reported "
                           f"as a second monitor (first_over)",
            "introduced": f"a node introduces error when its output's SQNR is at least {self.introduced_gain_db:g} dB "
                          f"below its worst input's (the error power at least doubles there); otherwise inherited",
            "pattern": "accumulates: every tensor after the first divergent one stays diverged, or the final output "
                       "diverges (ait advisor's 'global consistency'); local: the error of the diverged tensors does "
                       "not survive to the output (ait's 'single point')",
            "debug_graph": f"the debug graph (graph optimisation off) stands in for the deployed session when their "
                           f"final outputs agree at least {self.debug_margin_db:g} dB better (SQNR) than the variant "
                           f"agrees with the reference, i.e. its own deviation is <= 1/10 of the error localised",
        }


# ------------------------------------------------------------------ per-tensor metrics
class ErrorAccumulator:
    """Running sums for one tensor over many images (nothing kept but the sums)."""

    def __init__(self) -> None:
        self.dot = self.ref_sq = self.var_sq = self.diff_sq = self.abs_sum = 0.0
        self.max_abs = 0.0
        self.count = self.nan = self.inf = self.fp16_overflow = 0

    def update(self, reference: np.ndarray, variant: np.ndarray) -> None:
        a = np.asarray(reference, dtype=np.float64).ravel()
        b = np.asarray(variant, dtype=np.float64).ravel()
        if a.shape != b.shape:
            raise DiagnoseError(f"tensor shapes differ: reference {a.shape}, variant {b.shape}")
        bad = ~np.isfinite(b)
        self.nan += int(np.isnan(b).sum())
        self.inf += int(np.isinf(b).sum())
        self.fp16_overflow += int((np.abs(a) > FP16_MAX).sum())
        if bad.any():                       # metrics on the finite part; the counts say what was left out
            a, b = a[~bad], b[~bad]
        d = a - b
        self.dot += float(a @ b)
        self.ref_sq += float(a @ a)
        self.var_sq += float(b @ b)
        self.diff_sq += float(d @ d)
        self.abs_sum += float(np.abs(d).sum())
        self.max_abs = max(self.max_abs, float(np.abs(d).max()) if d.size else 0.0)
        self.count += a.size

    def metrics(self) -> dict[str, float | int]:
        eps = np.finfo(np.float64).eps
        cosine = self.dot / max(math.sqrt(self.ref_sq * self.var_sq), eps) if (self.ref_sq or self.var_sq) else 1.0
        if self.ref_sq == 0 and self.var_sq == 0:
            cosine = 1.0
        # onnxruntime's compute_signal_to_quantization_noice_ratio: 20 log10(|a| / |a - b|), both floored at eps
        sqnr = 20 * math.log10(max(math.sqrt(self.ref_sq), eps) / max(math.sqrt(self.diff_sq), eps))
        return {"cosine": float(cosine), "sqnr_db": float(sqnr),
                "relative_l2": math.sqrt(self.diff_sq) / max(math.sqrt(self.ref_sq), eps),
                "max_abs_error": self.max_abs, "mean_abs_error": self.abs_sum / max(self.count, 1),
                "nan_count": self.nan, "inf_count": self.inf, "fp16_overflow_count": self.fp16_overflow,
                "elements": self.count}


def tensor_metrics(reference: np.ndarray, variant: np.ndarray) -> dict[str, float | int]:
    acc = ErrorAccumulator()
    acc.update(reference, variant)
    return acc.metrics()


# ------------------------------------------------------------------ the per-node table
@dataclass
class NodeError:
    tensor: str                       # compared tensor (reference graph name)
    node: str                         # producing node in the variant graph (nodes_to_exclude / node_block_list)
    op_type: str
    depth: int                        # topological index of the producer in the reference graph
    cosine: float | None = None
    sqnr_db: float | None = None
    relative_l2: float | None = None
    max_abs_error: float | None = None
    mean_abs_error: float | None = None
    nan_count: int = 0
    inf_count: int = 0
    fp16_overflow_count: int = 0
    elements: int = 0
    qdq_sqnr_db: float | None = None      # onnxruntime's qdq_err: the tensor before vs after its own QDQ
    clipped_fraction: float | None = None # share of values beyond the calibrated range (by > half a step)
    clip_error_share: float | None = None # share of the own-QDQ error energy that is that clipping
    weight_sqnr_db: float | None = None   # onnxruntime's weight error of the node's weight
    input_sqnr_db: float | None = None    # worst SQNR among the node's compared inputs
    gain_db: float | None = None          # input_sqnr_db - sqnr_db: SQNR lost at this node
    origin: str = ""                      # introduced | inherited | "" (no compared input)
    diverged: bool = False
    source: str = "onnxruntime"           # onnxruntime | msit (a card dump's compare CSV)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def judge_nodes(nodes: list[NodeError], thresholds: Thresholds) -> dict[str, Any]:
    """Mark diverged tensors, name the first, attribute the error and summarise its pattern."""
    nodes.sort(key=lambda n: n.depth)
    for n in nodes:
        n.diverged = n.cosine is not None and (n.cosine < thresholds.cosine_min or not math.isfinite(n.cosine)) \
            or n.nan_count > 0 or n.inf_count > 0
        if n.input_sqnr_db is not None and n.sqnr_db is not None:
            n.gain_db = n.input_sqnr_db - n.sqnr_db
            n.origin = "introduced" if n.gain_db >= thresholds.introduced_gain_db else "inherited"
    first = next((n for n in nodes if n.diverged), None)
    first_l2 = next((n for n in nodes if n.relative_l2 is not None and n.relative_l2 > thresholds.relative_l2_max),
                    None)
    pattern: dict[str, Any] = {"kind": "none", "diverged": sum(n.diverged for n in nodes), "compared": len(nodes)}
    if first is not None:
        after = [n for n in nodes if n.depth > first.depth]
        outputs = [n for n in nodes if n.extra.get("graph_output")]
        reaches_output = any(n.diverged for n in outputs)
        inner = [n for n in after if not n.extra.get("graph_output")]
        stays = bool(inner) and all(n.diverged for n in inner)
        pattern.update(kind="accumulates" if (stays or reaches_output) else "local",
                       reaches_output=reaches_output, stays_diverged_after_first=stays,
                       introduced_at=[n.node for n in nodes if n.origin == "introduced" and n.diverged])
    return {"first_divergent_node": _node_summary(first),
            "first_over": {"cosine": _node_summary(first), "relative_l2": _node_summary(first_l2)},
            "error_pattern": pattern}


def _node_summary(n: NodeError | None) -> dict[str, Any] | None:
    if n is None:
        return None
    keys = ("node", "tensor", "op_type", "depth", "cosine", "sqnr_db", "relative_l2", "max_abs_error",
            "nan_count", "inf_count", "fp16_overflow_count", "qdq_sqnr_db", "clipped_fraction", "clip_error_share",
            "weight_sqnr_db", "gain_db", "origin", "source", "extra")
    d = n.to_dict()
    return {k: d[k] for k in keys}


# ------------------------------------------------------------------ graphs
class _Graph:
    def __init__(self, path: Path):
        import onnx
        self.model = onnx.load(str(path), load_external_data=False)
        g = self.model.graph
        self.initializers = {t.name for t in g.initializer}
        self.producer = {o: n for n in g.node for o in n.output}
        self.depth = {o: i for i, n in enumerate(g.node) for o in n.output}
        self.inputs = [i.name for i in g.input if i.name not in self.initializers]
        self.outputs = [o.name for o in g.output]

    def real_producer(self, tensor: str):
        """The node that computes `tensor`, looking through Q/DQ/Cast."""
        node = self.producer.get(tensor)
        seen = 0
        while node is not None and node.op_type in _TRANSPARENT_OPS and seen < 16:
            node = self.producer.get(node.input[0])
            seen += 1
        return node

    def real_inputs(self, node, known: set[str]) -> list[str]:
        """The compared tensors a node reads, looking through Q/DQ/Cast (weights are skipped)."""
        out = []
        for name in node.input:
            t, seen = name, 0
            while t not in known and t in self.producer and self.producer[t].op_type in _TRANSPARENT_OPS and seen < 16:
                t = self.producer[t].input[0]
                seen += 1
            t = _strip_qdq(t) if t not in known else t
            if t in known and t not in self.initializers:
                out.append(t)
        return out


def _strip_qdq(name: str) -> str:
    from onnxruntime.quantization.quant_utils import DEQUANT_OUTPUT_SUFFIX, QUANT_INPUT_SUFFIX
    for suffix in (DEQUANT_OUTPUT_SUFFIX, QUANT_INPUT_SUFFIX):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


class _OneInput:
    """A CalibrationDataReader over one input (collect_activations iterates a reader)."""

    def __init__(self, name: str, x: np.ndarray):
        from onnxruntime.quantization import CalibrationDataReader

        class Reader(CalibrationDataReader):
            def __init__(self):
                self._items = iter([{name: x}])

            def get_next(self):
                return next(self._items, None)
        self.reader = Reader()


def _quiet():
    """onnxruntime's calibrators print progress to stdout; keep stdout for --json."""
    return contextlib.redirect_stdout(sys.stderr)


def _sqnr(acc: ErrorAccumulator) -> float:
    return acc.metrics()["sqnr_db"]


# ------------------------------------------------------------------ localise
def localise(reference_onnx: str | Path, variant_onnx: str | Path, inputs: Sequence[np.ndarray], *,
             kind: str, thresholds: Thresholds = Thresholds(), workdir: str | Path | None = None,
             check_deployed: bool = True) -> dict[str, Any]:
    """Per-node error table of `variant_onnx` against `reference_onnx` on `inputs` (kind: int8 | fp16)."""
    from onnxruntime.quantization import qdq_loss_debug as qd
    if kind not in ("int8", "fp16"):
        raise DiagnoseError(f"kind {kind!r}: expected int8 (QDQ) or fp16")
    if not inputs:
        raise DiagnoseError("no inputs to compare on")
    ref_g, var_g = _Graph(Path(reference_onnx)), _Graph(Path(variant_onnx))
    input_name = ref_g.inputs[0]
    accs: dict[str, ErrorAccumulator] = {}
    qdq_accs: dict[str, ErrorAccumulator] = {}
    clipped: dict[str, list[int]] = {}
    scales = _activation_scales(var_g) if kind == "int8" else {}
    # tensors whose ReLU the QDQ quantizer folded away (a Relu in the reference, none in the variant)
    folded_relu = {t for t, n in ref_g.producer.items() if n.op_type == "Relu"
                   and (var_g.real_producer(t) is None or var_g.real_producer(t).op_type != "Relu")}
    deployed_acc, output_acc = ErrorAccumulator(), ErrorAccumulator()
    timings = {"collect_s": 0.0, "deployed_s": 0.0}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        ref_aug, var_aug = Path(tmp) / "reference.debug.onnx", Path(tmp) / "variant.debug.onnx"
        qd.modify_model_output_intermediate_tensors(str(reference_onnx), str(ref_aug))
        qd.modify_model_output_intermediate_tensors(str(variant_onnx), str(var_aug))
        deployed = None
        if check_deployed:
            import onnxruntime as ort
            deployed = ort.InferenceSession(str(variant_onnx), providers=["CPUExecutionProvider"])
        for x in inputs:
            t0 = time.perf_counter()
            ref_acts = qd.collect_activations(str(ref_aug), _OneInput(input_name, x).reader)
            var_acts = qd.collect_activations(str(var_aug), _OneInput(input_name, x).reader)
            timings["collect_s"] += time.perf_counter() - t0
            pairs = _match(ref_acts, var_acts, kind)
            for name, (ref, var, pre) in pairs.items():
                accs.setdefault(name, ErrorAccumulator()).update(ref, var)
                if pre is None:
                    continue
                raw = pre.astype(np.float64)
                if name in scales:
                    scale, rmin, rmax = scales[name]
                    if name in folded_relu and abs(rmin) <= 0.5 * scale:
                        raw = np.maximum(raw, 0.0)   # the QDQ's zero floor is the ReLU the quantizer removed
                    # the own-QDQ error split: values beyond the calibrated range vs rounding inside it
                    beyond = raw - np.clip(raw, rmin, rmax)
                    c = clipped.setdefault(name, [0, 0, 0.0, 0.0])
                    c[0] += int((np.abs(beyond) > 0.5 * scale).sum())
                    c[1] += beyond.size
                    c[2] += float(beyond.ravel() @ beyond.ravel())
                    d = raw - var
                    c[3] += float(d.ravel() @ d.ravel())
                qdq_accs.setdefault(name, ErrorAccumulator()).update(raw, var)
            out = ref_g.outputs[0]
            if out in pairs and deployed is not None:
                t0 = time.perf_counter()
                y = deployed.run(None, {deployed.get_inputs()[0].name: x.astype(np.float32)})[0]
                timings["deployed_s"] += time.perf_counter() - t0
                deployed_acc.update(pairs[out][1], y)      # debug graph vs deployed session
                output_acc.update(pairs[out][0], y)        # reference vs deployed session
            del ref_acts, var_acts, pairs
        weights = {}
        if kind == "int8":
            weights = qd.compute_weight_error(qd.create_weight_matching(str(reference_onnx), str(variant_onnx)))
    known = set(accs)
    nodes = []
    for name, acc in accs.items():
        node = var_g.real_producer(name) or var_g.real_producer(name + "_QuantizeLinear_Input")
        ref_node = ref_g.producer.get(name)
        m = acc.metrics()
        row = NodeError(tensor=name, node=node.name if node is not None else (ref_node.name if ref_node else name),
                        op_type=node.op_type if node is not None else (ref_node.op_type if ref_node else "input"),
                        depth=ref_g.depth.get(name, -1), **{k: m[k] for k in (
                            "cosine", "sqnr_db", "relative_l2", "max_abs_error", "mean_abs_error", "nan_count",
                            "inf_count", "fp16_overflow_count", "elements")})
        if name in qdq_accs:
            row.qdq_sqnr_db = _sqnr(qdq_accs[name])
        if name in clipped and clipped[name][1]:
            row.clipped_fraction = clipped[name][0] / clipped[name][1]
            row.clip_error_share = clipped[name][2] / clipped[name][3] if clipped[name][3] > 0 else 0.0
        if node is not None:
            ins = [i for i in var_g.real_inputs(node, known) if i != name]
            if ins:
                row.input_sqnr_db = min(_sqnr(accs[i]) for i in ins)
                row.extra["inputs"] = ins
            ws = [weights[w] for w in (_strip_qdq(i).removesuffix("_quantized") for i in _weight_inputs(var_g, node))
                  if w in weights]
            if ws:
                row.weight_sqnr_db = float(min(ws))
        if name in ref_g.outputs:
            row.extra["graph_output"] = True
        if name in ref_g.inputs:
            row.extra["graph_input"] = True
        nodes.append(row)
    if not nodes:
        raise DiagnoseError(f"no tensor of {variant_onnx} matches one of {reference_onnx} by name")
    summary = judge_nodes(nodes, thresholds)
    debug_check = None
    if deployed_acc.count:
        dm, om = deployed_acc.metrics(), output_acc.metrics()
        debug_check = {"debug_vs_deployed_sqnr_db": dm["sqnr_db"], "debug_vs_deployed_max_abs": dm["max_abs_error"],
                       "reference_vs_deployed_sqnr_db": om["sqnr_db"],
                       "stands_in": dm["sqnr_db"] >= om["sqnr_db"] + thresholds.debug_margin_db,
                       "rule": thresholds.rules()["debug_graph"],
                       "note": "qdq_loss_debug runs with graph optimisation off; the deployed session fuses QDQ "
                               "(QLinearConv) and may round differently"}
    return {"nodes": [n.to_dict() for n in nodes], **summary, "debug_graph_check": debug_check,
            "thresholds": dataclasses.asdict(thresholds), "rules": thresholds.rules(),
            "inputs": len(inputs), "timings": timings,
            "tooling": "onnxruntime.quantization.qdq_loss_debug (modify_model_output_intermediate_tensors, "
                       "collect_activations, create_activation_matching, create_weight_matching, compute_weight_error)"}


def _activation_scales(graph: _Graph) -> dict[str, tuple[float, float, float]]:
    """Per-tensor activation quantisation of a QDQ graph: tensor -> (scale, rmin, rmax) of its
    QuantizeLinear (the float range the integer range maps to)."""
    from onnx import numpy_helper
    inits = {t.name: t for t in graph.model.graph.initializer}
    out = {}
    for n in graph.model.graph.node:
        if n.op_type == "QuantizeLinear" and len(n.input) > 2 and n.input[1] in inits and n.input[2] in inits:
            scale, zp = numpy_helper.to_array(inits[n.input[1]]), numpy_helper.to_array(inits[n.input[2]])
            if scale.size == 1 and zp.dtype.kind in "iu":
                info = np.iinfo(zp.dtype)
                s, z = float(scale.reshape(())), int(zp.reshape(()))
                out[_strip_qdq(n.input[0])] = (s, (info.min - z) * s, (info.max - z) * s)
    return out


def _weight_inputs(graph: _Graph, node) -> list[str]:
    """Initializers a node reads, directly or through a DequantizeLinear (its quantized weight)."""
    out = []
    for name in node.input:
        p = graph.producer.get(name)
        if name in graph.initializers:
            out.append(name)
        elif p is not None and p.op_type == "DequantizeLinear" and p.input[0] in graph.initializers:
            out.append(p.input[0])
    return out


def _match(ref_acts: dict, var_acts: dict, kind: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """tensor name -> (reference value, variant value, variant value before its QDQ or None), first batch."""
    from onnxruntime.quantization import qdq_loss_debug as qd
    pairs: dict[str, tuple] = {}
    if kind == "int8":
        # onnxruntime's own matching: for each QDQ'd activation, pre_qdq / post_qdq / float
        for name, m in qd.create_activation_matching(var_acts, ref_acts).items():
            if "float" in m:
                pairs[name] = (m["float"][0], m["post_qdq"][0], m["pre_qdq"][0])
    for name, ref in ref_acts.items():       # tensors without a QDQ pair (and every fp16 tensor): by name
        if name not in pairs and name in var_acts:
            pairs[name] = (ref[0], var_acts[name][0].astype(np.float32), None)
    return pairs


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


# ------------------------------------------------------------------ report evidence
def error_by_depth_png(nodes: Sequence[dict], first: dict | None, title: str = "error by depth") -> bytes:
    import io
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [n for n in nodes if n.get("sqnr_db") is not None and n.get("depth", -1) >= 0]
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    try:
        depth = [n["depth"] for n in rows]
        ax.plot(depth, [min(n["sqnr_db"], 80.0) for n in rows], "o-", label="SQNR vs reference (dB, capped at 80)")
        ax2 = ax.twinx()
        ax2.plot(depth, [n["cosine"] for n in rows], "s--", color="tab:orange", label="cosine")
        ax2.set_ylabel("cosine similarity")
        if first is not None:
            ax.axvline(first["depth"], color="red", lw=2, label=f"first divergent: {first['node']}")
        ax.set_xlabel("depth (topological index in the reference graph)")
        ax.set_ylabel("SQNR (dB)")
        ax.set_title(title)
        lines = ax.get_legend_handles_labels()
        lines2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="lower left")
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


TABLE_COLUMNS = ("depth", "node", "op_type", "tensor", "cosine", "sqnr_db", "relative_l2", "max_abs_error",
                 "nan_count", "inf_count", "fp16_overflow_count", "qdq_sqnr_db", "clipped_fraction", "clip_error_share",
                 "weight_sqnr_db", "gain_db",
                 "origin", "source")


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def nodes_table_html(nodes: Sequence[dict], first: dict | None) -> str:
    import html
    head = "".join(f"<th>{c}</th>" for c in TABLE_COLUMNS)
    body = []
    for n in nodes:
        style = ""
        if first is not None and n.get("tensor") == first.get("tensor"):
            style = ' style="background:#f8b4b4;font-weight:bold"'
        elif n.get("diverged"):
            style = ' style="background:#fde8e8"'
        body.append(f"<tr{style}>" + "".join(f"<td>{html.escape(_fmt(n.get(c)))}</td>" for c in TABLE_COLUMNS) + "</tr>")
    caption = f"first divergent node: {html.escape(first['node'])}" if first else "no node over threshold"
    return (f"<table border=1 cellspacing=0 cellpadding=3><caption>{caption}</caption><tr>{head}</tr>"
            + "".join(body) + "</table>")


def nodes_table_text(nodes: Sequence[dict], first: dict | None, limit: int | None = None) -> str:
    cols = ("depth", "node", "op_type", "cosine", "sqnr_db", "relative_l2", "max_abs_error", "gain_db", "origin")
    lines = ["  ".join(f"{c:>12}" if c not in ("node",) else f"{c:<48}" for c in cols)]
    for n in list(nodes)[:limit]:
        mark = " <== first divergent" if first is not None and n.get("tensor") == first.get("tensor") else ""
        lines.append("  ".join(f"{_fmt(n.get(c)):>12}" if c != "node" else f"{str(n.get(c))[-48:]:<48}"
                               for c in cols) + mark)
    return "\n".join(lines)


CALIBRATION_COLUMNS = ("tensor", "calibrated_range", "reference_range", "calibrated_clips", "reference_clips", "widening")


def _range_text(v) -> str:
    return f"[{v[0]:.3g}, {v[1]:.3g}]"


def _fmt_widening(w: float | None) -> str:
    return "-" if w is None else f"{w:.2f}x"


def calibration_table_text(rows: Sequence[dict], limit: int | None = None) -> str:
    out = [f"  {'tensor':<56} {'calibrated':>17} {'reference':>17} {'clips':>7} {'ref clips':>9} {'wider':>6}"]
    for r in list(rows)[:limit]:
        out.append(f"  {r['tensor'][-56:]:<56} {_range_text(r['calibrated_range']):>17} "
                   f"{_range_text(r['reference_range']):>17} {r['calibrated_clips']:>7.2%} "
                   f"{r['reference_clips']:>9.3%} {_fmt_widening(r['widening']):>6}")
    return "\n".join(out)


def calibration_table_html(rows: Sequence[dict]) -> str:
    import html
    head = "".join(f"<th>{c}</th>" for c in CALIBRATION_COLUMNS)
    body = []
    for r in rows:
        cells = [r["tensor"], _range_text(r["calibrated_range"]), _range_text(r["reference_range"]),
                 f"{r['calibrated_clips']:.2%}", f"{r['reference_clips']:.3%}", _fmt_widening(r["widening"])]
        style = ' style="background:#fde8e8"' if (r["widening"] or 0.0) > 1.05 else ""
        body.append(f"<tr{style}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return (f"<table border=1 cellspacing=0 cellpadding=3><caption>calibrated vs reference KL ranges "
            f"(shaded: narrower than the reference)</caption><tr>{head}</tr>" + "".join(body) + "</table>")


def attach_diagnosis(result: dict[str, Any], name: str = "diagnose") -> None:
    """Allure evidence when a report is being written: the per-layer table (HTML, first divergent node
    highlighted), the error-by-depth plot, the repair and the JSON."""
    from srharness import report
    if not report.active():
        return
    import allure
    first = result.get("first_divergent_node")
    allure.attach(nodes_table_html(result["nodes"], first), name=f"{name}: per-layer table",
                  attachment_type=allure.attachment_type.HTML)
    allure.attach(error_by_depth_png(result["nodes"], first, title=name), name=f"{name}: error by depth",
                  attachment_type=allure.attachment_type.PNG)
    if result.get("repair"):
        report.attach_json(f"{name}: repair", result["repair"])
        if result["repair"].get("calibration"):
            allure.attach(calibration_table_html(result["repair"]["calibration"]["table"]),
                          name=f"{name}: calibration ranges", attachment_type=allure.attachment_type.HTML)
    report.attach_json(f"{name}: result", {k: v for k, v in result.items() if k != "nodes"})


# ------------------------------------------------------------------ the whole run on a model
@dataclass
class DiagnoseConfig:
    model: str
    backend: str
    scale: int = 2
    protocol: str | None = None
    dataset: str | None = None
    data_dir: str | None = None
    weights: str | None = None          # None: random init; "auto": the official checkpoint in the weights dir
    weights_dir: str | None = None      # where "auto" looks (default: $SRHARNESS_WEIGHTS_DIR, <data_dir>/weights)
    images: Sequence[str] | None = None
    work_dir: str | None = None
    out_dir: str | None = None
    golden_dir: str | None = None
    rule: str | None = None             # None: the golden's rule vs torch fp32; "agreement:DB": PSNR vs torch >= DB
    kl_bins: int | None = None
    max_runs: int | None = None
    thresholds: Thresholds = Thresholds()


def variant_kind(backend: str) -> str:
    if backend in INT8_BACKENDS:
        return "int8"
    if backend in FP16_BACKENDS:
        return "fp16"
    raise DiagnoseError(f"backend {backend!r} cannot be diagnosed here; diagnosable: {', '.join(DIAGNOSABLE_BACKENDS)} "
                        "(a card's om-vs-onnx comparison: read its msit compare CSV with --msit-csv)")


def figure_rule(cfg: DiagnoseConfig, spec, protocol_name: str, precision: str):
    """(Rule, golden value or None, text) judging the variant's figure. Default: the golden file's
    rule for this model, protocol and precision, against torch fp32 measured in the same run (the
    guides' comparison); `agreement:DB`: PSNR of the variant's output against torch's >= DB."""
    from srharness.golden import Rule
    if cfg.rule:
        kind, _, value = cfg.rule.partition(":")
        if kind != "agreement":
            raise DiagnoseError(f"--rule {cfg.rule!r}: expected agreement:DB (e.g. agreement:25)")
        try:
            floor = float(value)
        except ValueError:
            raise DiagnoseError(f"--rule {cfg.rule!r}: {value!r} is not a number of dB") from None
        return Rule(type="absolute", tolerance=0.0, sides="one-sided"), floor, \
            f"agreement: PSNR of the variant's output vs torch fp32's (protocol-finished) >= {floor:g} dB"
    from srharness import resources
    golden_dir = cfg.golden_dir or str(resources.golden_dir(Path.cwd()))
    try:
        from srharness.golden import load_goldens
        gs = load_goldens(golden_dir)
        found = [g for g in gs.select(model=spec.name, metric="psnr", protocol=protocol_name, precision=precision)
                 if g.image is None and g.rule.type not in ("none", "exceeds")]
    except Exception:     # no golden dir: fall back to the guides' rule, said so in the text
        found = []
    if found:
        g = found[0]
        return g.rule, None, f"{g.rule.describe('dB')} vs torch fp32 (this run); rule of golden {g.id}"
    rule = Rule()
    return rule, None, f"{rule.describe('dB')} vs torch fp32 (this run); the guides' default rule (no golden)"


def diagnose(cfg: DiagnoseConfig, repair: bool = False, progress: Callable[[str], None] | None = None) -> dict:
    """Localise (and optionally repair) the variant `cfg.backend` of a model on a dataset."""
    from srharness import quantize
    from srharness.data.datasets import load_dataset
    from srharness.deploy import DeployError, deploy, load_module, weights_dir
    from srharness.golden import Rule
    from srharness.metrics import psnr as psnr_of
    from srharness.models import get_model_spec
    from srharness import protocols
    from srharness.protocols import evaluate, get_protocol
    from srharness.runners.ort_runner import OrtRunner
    from srharness.runners.torch_runner import TorchRunner
    say = progress or (lambda s: None)
    t_start = time.perf_counter()
    kind = variant_kind(cfg.backend)
    spec = get_model_spec(cfg.model)
    if cfg.scale not in spec.scales:
        raise DiagnoseError(f"{spec.name} is defined for scales {list(spec.scales)}, not x{cfg.scale}")
    protocol = get_protocol(cfg.protocol or getattr(spec, "guide_protocol", None)
                            or protocols.default_protocol(spec.name))
    dataset = load_dataset(cfg.dataset or ("set5" if cfg.data_dir else "embedded"), cfg.data_dir, cfg.scale)
    if cfg.images:
        dataset = dataset.subset(list(cfg.images))
    work = Path(cfg.work_dir or Path.home() / ".cache" / "srharness" / "eval")
    work.mkdir(parents=True, exist_ok=True)
    # the model and its fp32 ONNX file as `srharness eval` deploys them (srharness.deploy: weights
    # resolved once, the source-keyed export cache): a changed forward is a new file
    try:
        deployed = deploy(spec, cfg.scale, backend="ort", weights=cfg.weights, workdir=work,
                          weights_dir=weights_dir(cfg.weights_dir, cfg.data_dir), build=False)
    except DeployError as exc:
        raise DiagnoseError(str(exc)) from None
    model = load_module(spec, cfg.scale, deployed.weights)
    weights_path, fp32 = deployed.weights, deployed.onnx
    preps = [protocol.prepare(s.hr(), cfg.scale, spec, name=s.name, sample=s) for s in dataset]
    inputs = [p.input.astype(np.float32) for p in preps]
    mode = quantize.INT8_BACKENDS.get(cfg.backend)

    def variant_file(excluded: Sequence[str], calibrate_mode: str | None = None,
                     tensor_ranges: dict | None = None) -> Path:
        with _quiet():
            if kind == "int8":
                return quantize.to_int8(fp32, inputs, calibrate_mode or mode, kl_bins=cfg.kl_bins,
                                        nodes_to_exclude=tuple(excluded), tensor_ranges=tensor_ranges)
            return quantize.to_fp16(fp32, node_block_list=tuple(excluded))

    # reference figure: torch fp32 through the protocol, measured in this run
    say("torch fp32 reference figure")
    torch_images: dict[str, np.ndarray] = {}

    def keep(name, image, prep, score):
        torch_images[name] = image
    torch_runner = TorchRunner(model)
    torch_result = evaluate(protocol, torch_runner.run, dataset, cfg.scale, spec, on_image=keep)
    rule, floor, rule_text = figure_rule(cfg, spec, protocol.name, kind)
    agreement = cfg.rule is not None

    def figure(excluded: tuple[str, ...], step: str, calibrate_mode: str | None = None,
               tensor_ranges: dict | None = None) -> Trial:
        t0 = time.perf_counter()
        path = variant_file(excluded, calibrate_mode, tensor_ranges)
        runner = OrtRunner(path, backend_name=cfg.backend, precision=kind)
        if agreement:
            scores = []

            def compare(name, image, prep, score):
                scores.append(psnr_of(image, torch_images[name], data_range=protocol.data_range,
                                      crop_border=protocol.crop_border(cfg.scale)))
            evaluate(protocol, runner.run, dataset, cfg.scale, spec, on_image=compare)
            value = float(np.mean(scores))
            passed = rule.judge(value, floor, "dB").passed
        else:
            value = evaluate(protocol, runner.run, dataset, cfg.scale, spec).mean_psnr
            passed = rule.judge(value, torch_result.mean_psnr, "dB").passed
        runner.close()
        trial = Trial(tuple(excluded), value, bool(passed), time.perf_counter() - t0, step)
        what = f"{len(tensor_ranges)} ranges replaced" if tensor_ranges else f"{len(excluded)} excluded"
        say(f"  {step}: {what} -> {value:.4f} dB, {'pass' if passed else 'FAIL'}")
        return trial

    say(f"{cfg.backend} variant and its figure")
    t0 = time.perf_counter()
    variant = variant_file(())
    before = figure((), "before")
    t_variant = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        if kind == "int8":
            from onnxruntime.quantization.shape_inference import quant_pre_process
            reference = Path(tmp) / "reference.pre.onnx"          # the float graph quantize_static consumed
            with _quiet():
                quant_pre_process(str(fp32), str(reference), skip_symbolic_shape=True)
        else:
            reference = fp32
        ref_check = _reference_check(reference, torch_runner, inputs[0])
        say("localising: every intermediate tensor of both graphs on the protocol inputs")
        t0 = time.perf_counter()
        loc = localise(reference, variant, inputs, kind=kind, thresholds=cfg.thresholds, workdir=tmp)
        t_localise = time.perf_counter() - t0
        result: dict[str, Any] = {
            "model": spec.name, "scale": cfg.scale, "backend": cfg.backend, "precision": kind,
            "protocol": protocol.name, "dataset": dataset.name, "images": [s.name for s in dataset],
            "weights": str(weights_path) if weights_path else "random init (seed 0)",
            "reference": {"what": "onnxruntime fp32 on the float ONNX graph the variant was made from"
                                  + (" (quant_pre_process output)" if kind == "int8" else ""),
                          "torch_fp32_psnr": torch_result.mean_psnr, **ref_check},
            "variant_file": str(variant), "rule": rule_text,
            "figure": {"before": {"psnr": before.psnr, "passed": before.passed},
                       "reference_psnr": torch_result.mean_psnr if not agreement else None,
                       "floor_db": floor},
            **loc}
        repair_result = None
        t_repair = 0.0
        if repair:
            t0 = time.perf_counter()
            cands = candidate_nodes(reference, kind, variant)
            ranked = rank_candidates(loc["nodes"], cands)
            say(f"repair: {len(ranked)} candidate nodes, at most {repair_bound(len(ranked))} figure re-runs")
            seeded = {frozenset(): before}

            def judge(excluded, step):
                return seeded.pop(frozenset(excluded), None) or figure(excluded, step)
            rr = search_exclusions(ranked, judge, max_runs=cfg.max_runs)
            t_repair = time.perf_counter() - t0
            after = next((t for t in reversed(rr.trials) if frozenset(t.excluded) == frozenset(rr.excluded_nodes)),
                         None)
            if after is None or after.step != "confirm":
                after = figure(tuple(rr.excluded_nodes), "confirm")     # the re-run that proves the fix
                rr.trials.append(after)
            out_dir = Path(cfg.out_dir or work / "diagnose" / f"{spec.name}-x{cfg.scale}-{cfg.backend}")
            repair_result = {
                "excluded_nodes": rr.excluded_nodes, "excluded": len(rr.excluded_nodes), "candidates": rr.candidates,
                "option": "nodes_to_exclude" if kind == "int8" else "node_block_list",
                "before": {"psnr": before.psnr, "passed": before.passed},
                "after": {"psnr": after.psnr, "passed": after.passed},
                "passed": bool(after.passed and rr.passed), "rule": rule_text,
                "reruns": len(rr.trials), "rerun_bound": rr.bound + 1, "max_runs": cfg.max_runs,
                "bound_rule": "figure runs <= 2 + ceil(log2 n) + k + 1: before, all excluded, bisection over the "
                              "ranked prefix, refinement of the k kept nodes, and the confirming re-run",
                "search": "rank by SQNR lost at the node (gain_db), bisect the shortest passing prefix, then drop "
                          "each kept node that the figure does not need (refine)",
                "ranking": rr.ranking, "note": rr.note,
                "trials": [dataclasses.asdict(t) for t in rr.trials],
                "fix": write_fix(rr.excluded_nodes, reference, out_dir, kind) if rr.excluded_nodes else None,
                "fixed_variant_file": str(variant_file(rr.excluded_nodes)) if rr.excluded_nodes else None}
            spread = not rr.passed or len(rr.excluded_nodes) > rr.candidates / 2
            if kind == "int8" and spread:
                # the drop is spread over the graph: a per-node fix is as large as the network. Say whether
                # the calibration range is the cause (activations clipped) and try the other vamc mode once.
                first = loc["first_divergent_node"] or {}
                clipping = [n for n in loc["nodes"] if (n.get("clip_error_share") or 0) > 0.5]
                other = "max" if mode != "max" else "kl_divergence"
                alt = figure((), f"alternative calibrate_mode={other}", calibrate_mode=other)
                if mode == "kl_divergence":
                    cal = repair_result["calibration"] = _calibration_repair(
                        fp32, inputs, cfg, variant, before, figure, out_dir, mode, say)
                    if cal["passed"]:
                        repair_result["smallest_fix"] = {
                            "kind": "calibration", "nodes_in_higher_precision": 0, "psnr": cal["after"]["psnr"],
                            "text": f"the reference KL ranges ({cal['fix']['ort']['file']}): {cal['after']['psnr']:.4f} "
                                    f"dB with no node in higher precision, where the node search needs "
                                    f"{len(rr.excluded_nodes)} of {rr.candidates}"}
                repair_result["spread"] = {
                    "note": f"{len(rr.excluded_nodes)} of {rr.candidates} nodes are needed: the error is spread over "
                            f"the graph, not in a few layers. "
                            + (f"At the first divergent node ({first['node']}) {(first.get('clipped_fraction') or 0):.1%} "
                               f"of the values lie beyond the calibrated range and that clipping is "
                               f"{(first.get('clip_error_share') or 0):.0%} of its own quantisation error; "
                               if first else "No node is over the thresholds; ")
                            + f"{len(clipping)} quantized activations are clipping-dominated. "
                            f"Higher precision fixes clipping only by leaving the tensor in float; the calibration "
                            f"is the other lever (repair.calibration, and calibrate_mode={other} below).",
                    "clipping_dominated": [n["node"] for n in clipping],
                    "alternative": {"calibrate_mode": other, "psnr": alt.psnr, "passed": alt.passed,
                                    "seconds": alt.seconds}}
        result["repair"] = repair_result
        result["cost"] = {"total_s": time.perf_counter() - t_start, "variant_and_before_figure_s": t_variant,
                          "localise_s": t_localise, "repair_s": t_repair,
                          "calibration_s": ((repair_result or {}).get("calibration") or {}).get("seconds", 0.0),
                          "figure_run_s": [round(t["seconds"], 2) for t in (repair_result or {}).get("trials", [])],
                          "machine": f"{_cpu_count()} CPU cores (shared)"}
    return result


def _calibration_repair(fp32: Path, inputs, cfg: DiagnoseConfig, variant: Path, before: Trial, figure,
                        out_dir: Path, mode: str, say) -> dict[str, Any]:
    """Entropy variant whose drop is spread over the graph: compare its ranges with the reference KL
    search on the same histograms, re-run the figure with them, and search the smallest set of
    tensors that needs them (each step the real figure)."""
    from srharness import quantize
    calibration = quantize.read_entropy_calibration(quantize.entropy_ranges_path(fp32, inputs, cfg.kl_bins))
    tensors = quantized_activations(variant)
    t0 = time.perf_counter()
    reference = quantize.reference_kl_ranges({t: calibration[t] for t in tensors if t in calibration})
    table = calibration_table(calibration, tensors, reference)
    say(f"calibration: {len(table)} quantized activations, reference KL ranges in {time.perf_counter() - t0:.1f} s")
    changed = [r["tensor"] for r in sorted(table, key=lambda r: -(r["widening"] or 0.0))
               if tuple(r["reference_range"]) != tuple(r["calibrated_range"])]
    whole = figure((), "reference KL ranges, every tensor", tensor_ranges=reference)
    seeded = {frozenset(): before, frozenset(changed): whole}

    def judge(selected, step):
        return seeded.pop(frozenset(selected), None) or \
            figure((), step, tensor_ranges={t: reference[t] for t in selected})
    search = search_exclusions(changed, judge, max_runs=cfg.max_runs) if whole.passed else None
    widening = [r["widening"] for r in table if r["widening"] is not None]
    narrower = [r for r in table if (r["widening"] or 0.0) > 1.05]
    return {
        "cause": ORT_KL_NOTE,
        "method": "the reference KL threshold search (quantize.reference_kl_threshold) on the histograms this "
                  "calibration kept, same bins and quantised bins, kept inside the observed range",
        "narrower_than_reference": len(narrower), "tensors": len(table),
        "median_widening": float(np.median(widening)) if widening else None,
        "before": {"psnr": before.psnr, "passed": before.passed},
        "after": {"psnr": whole.psnr, "passed": whole.passed},
        "passed": whole.passed, "excluded_nodes": [],
        "smallest_tensor_set": None if search is None else {
            "tensors": search.excluded_nodes, "count": len(search.excluded_nodes), "of": len(changed),
            "passed": search.passed, "reruns": len(search.trials), "rerun_bound": search.bound, "note": search.note,
            "trials": [dataclasses.asdict(t) for t in search.trials]},
        "table": table,
        "fix": write_calibration_fix(reference, out_dir, mode) if whole.passed else None,
        "seconds": time.perf_counter() - t0}


def _cpu_count() -> int:
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _reference_check(reference_onnx: Path, torch_runner, x: np.ndarray) -> dict[str, Any]:
    """How far the ONNX reference is from torch fp32 on one protocol input (export equivalence)."""
    from srharness.runners.ort_runner import OrtRunner
    a = torch_runner.run(x)
    b = OrtRunner(reference_onnx).run(x)
    m = tensor_metrics(a, b)
    return {"vs_torch_max_abs": m["max_abs_error"], "vs_torch_sqnr_db": m["sqnr_db"]}


def result_digest(result: dict) -> str:
    return hashlib.sha256(json.dumps(result, sort_keys=True, default=str).encode()).hexdigest()[:12]


# ------------------------------------------------------------------ the automatic step in the accuracy checks
DIAGNOSE_MODES = ("off", "localise", "repair")


def on_failed_figure(config, record, *, model: str, scale: int, backend: str, protocol: str, data_dir,
                     weights, golden_dir=None, kl_bins: int | None = None, work_dir=None) -> dict | None:
    """Called by a check whose compiled-variant figure failed its rule. With `--sr-diagnose-on-fail
    localise|repair` (off by default: it costs about a minute, a repair a few more), runs the
    diagnosis on the same variant, attaches the per-layer table, the error-by-depth plot and the
    repair to the report, and records the repair's before/after figures as verdicts."""
    from srharness.plugin import get_option
    from srharness.records import Verdict
    mode = (get_option(config, "sr_diagnose_on_fail") or "off").strip().lower().replace("localize", "localise")
    if mode not in DIAGNOSE_MODES:
        import pytest
        raise pytest.UsageError(f"--sr-diagnose-on-fail / SRHARNESS_DIAGNOSE_ON_FAIL: {mode!r}; "
                                f"expected one of {', '.join(DIAGNOSE_MODES)}")
    if mode == "off" or backend not in DIAGNOSABLE_BACKENDS:
        return None
    cfg = DiagnoseConfig(model=model, backend=backend, scale=scale, protocol=protocol, dataset="set5",
                         data_dir=str(data_dir) if data_dir else None, weights=str(weights) if weights else None,
                         golden_dir=str(golden_dir) if golden_dir else None, kl_bins=kl_bins,
                         work_dir=str(work_dir) if work_dir else None,
                         out_dir=str(Path(work_dir) / "diagnose") if work_dir else None)
    result = diagnose(cfg, repair=mode == "repair")
    attach_diagnosis(result, name=f"diagnose {model} x{scale} {backend}")
    rep = result.get("repair")
    if rep:
        common = dict(model=model, check="accuracy", metric="psnr", hardware="cpu", backend=backend,
                      precision=result["precision"], scale=scale, protocol=result["protocol"], dataset=result["dataset"],
                      golden=result["figure"]["reference_psnr"], rule=rep["rule"], unit="dB")
        record(Verdict(measured=rep["before"]["psnr"], passed=None,
                       conditions={"repair": "before", "kl_bins": kl_bins},
                       notes="diagnose: the variant as built (judged by the check itself)", **common))
        record(Verdict(measured=rep["after"]["psnr"], passed=rep["passed"],
                       conditions={"repair": "after", "option": rep["option"], "excluded_nodes": rep["excluded_nodes"],
                                   "candidates": rep["candidates"], "reruns": rep["reruns"], "kl_bins": kl_bins},
                       notes=f"diagnose --repair: {rep['excluded']} of {rep['candidates']} nodes kept in higher "
                             f"precision", **common))
        cal = rep.get("calibration")
        if cal:
            record(Verdict(measured=cal["after"]["psnr"], passed=cal["passed"],
                           conditions={"repair": "after", "option": "TensorQuantOverrides (reference KL ranges)",
                                       "tensors": cal["tensors"], "narrower_than_reference": cal["narrower_than_reference"],
                                       "excluded_nodes": [], "kl_bins": kl_bins},
                           notes="diagnose --repair: the reference KL search's ranges on the same histograms, "
                                 "no node in higher precision", **common))
    return result
