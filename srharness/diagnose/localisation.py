"""Localise: every intermediate tensor of the variant against the fp32 reference graph, per node."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .metrics import (
    DiagnoseError,
    ErrorAccumulator,
    NodeError,
    Thresholds,
    _sqnr,
    judge_nodes,
)

# ops that only move a tensor between precisions: walked through to find a node's real inputs
_TRANSPARENT_OPS = {"QuantizeLinear", "DequantizeLinear", "Cast"}


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
    from onnxruntime.quantization.quant_utils import (
        DEQUANT_OUTPUT_SUFFIX,
        QUANT_INPUT_SUFFIX,
    )
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
