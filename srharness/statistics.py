"""The agreement statistics: how the outputs of a model under test and of its reference on the
same inputs become one figure in dB. Each is defined here once (name, pooling, non-finite
handling); every floor of srharness/tolerances.yaml that compares two outputs names its statistic
(`statistic:`), and callers take the function from that name, never a formula of their own:

    agree = tolerance("agreement")                       # statistic: pooled_psnr
    agree.measure(outs, refs, data_range=spec.input_range) >= agree.floor("fp16")

Common to all: PSNR by srharness.metrics.psnr on the model's range (`data_range`), +inf when
identical; a pair whose shapes differ or that holds a NaN/Inf agrees with nothing (-inf), so a
NaN can never pass a floor nor vanish in a min().
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from srharness.errors import InputError


class StatisticError(InputError):
    """An unknown statistic name (in tolerances.yaml or a caller)."""


def _pair_ok(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.isfinite(a).all() and np.isfinite(b).all())


def _psnr(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    from srharness.metrics import psnr
    # one row of all values: metrics.psnr compares all channels and pixels jointly
    return psnr(a.reshape(1, -1), b.reshape(1, -1), data_range=data_range)


def _as64(xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(x, np.float64) for x in xs]


def per_pair_psnr(outs: Sequence[np.ndarray], refs: Sequence[np.ndarray], data_range: float) -> list[float]:
    """PSNR of each output against its reference (-inf for a non-finite or mis-shaped pair)."""
    if len(outs) != len(refs):
        raise ValueError(f"{len(outs)} outputs against {len(refs)} references")
    return [_psnr(a, b, data_range) if _pair_ok(a, b) else -math.inf
            for a, b in zip(_as64(outs), _as64(refs))]


def pooled_psnr(outs: Sequence[np.ndarray], refs: Sequence[np.ndarray], data_range: float) -> float:
    """All pairs pooled into one MSE: one PSNR for the whole set (-inf if any pair is non-finite)."""
    a, b = _as64(outs), _as64(refs)
    if len(a) != len(b) or not all(_pair_ok(x, y) for x, y in zip(a, b)):
        return -math.inf
    return _psnr(np.concatenate([x.ravel() for x in a]), np.concatenate([y.ravel() for y in b]), data_range)


def worst_psnr(outs: Sequence[np.ndarray], refs: Sequence[np.ndarray], data_range: float) -> float:
    """The worst per-pair PSNR: every output must agree on its own."""
    scores = per_pair_psnr(outs, refs, data_range)
    return min(scores) if scores else -math.inf


@dataclass(frozen=True)
class Statistic:
    name: str
    pooling: str        # "pooled": one MSE over all pairs; "worst": min of the per-pair PSNRs
    nonfinite: str      # what a NaN/Inf (or a shape mismatch) in a pair gives
    what: str
    fn: Callable[[Sequence[np.ndarray], Sequence[np.ndarray], float], float]

    def __call__(self, outs, refs, data_range: float) -> float:
        return float(self.fn(outs, refs, data_range))


STATISTICS: dict[str, Statistic] = {s.name: s for s in (
    Statistic("pooled_psnr", "pooled", "-inf", "PSNR of all outputs against all references, one MSE", pooled_psnr),
    Statistic("worst_psnr", "worst", "-inf", "the lowest PSNR of each output against its reference", worst_psnr),
)}


def statistic(name: str) -> Statistic:
    try:
        return STATISTICS[name]
    except KeyError:
        raise StatisticError(f"no agreement statistic {name!r} (srharness.statistics has "
                             f"{', '.join(STATISTICS)})") from None
