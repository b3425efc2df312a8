"""Per-tensor error metrics, the per-node table and its thresholds (data, with their rules)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from srharness.errors import SrHarnessError

INT8_BACKENDS = ("ort-int8", "ort-int8-minmax", "ort-int8-entropy")
FP16_BACKENDS = ("ort-fp16",)
DIAGNOSABLE_BACKENDS = INT8_BACKENDS + FP16_BACKENDS
FP16_MAX = 65504.0


class DiagnoseError(SrHarnessError, ValueError):
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


def _sqnr(acc: ErrorAccumulator) -> float:
    return acc.metrics()["sqnr_db"]
