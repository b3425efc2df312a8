"""Correctness of a timed run (MLPerf's audit tests), each a dict with `passed` and its `rule`:
TEST01 (outputs sampled during the timed run against an untimed run of the same input), TEST04
(result caching: repeated vs distinct inputs), the non-finite guard (fp16 overflow) and the
independent event loop (the harness's fps within 10% of a plain event loop)."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

# MLPerf inference audit TEST04 (result caching): the run on one repeated sample must not be more
# than 10% faster than the run on distinct samples.
CACHING_SPEEDUP_LIMIT = 1.10
# The acceptance: the harness's GPU-compute fps within 10% of an independent event loop.
INDEPENDENT_LOOP_TOLERANCE = 0.10


def caching_check(fps_distinct: float, fps_repeated: float, limit: float = CACHING_SPEEDUP_LIMIT) -> dict:
    """TEST04: one repeated input must not run more than `limit` x faster than distinct inputs
    (fps at the median latency of each loop)."""
    speedup = fps_repeated / fps_distinct if fps_distinct > 0 else math.inf
    return {"fps_distinct": fps_distinct, "fps_repeated": fps_repeated, "speedup": speedup, "limit": limit,
            "passed": bool(speedup <= limit),
            "rule": f"repeated-input fps / distinct-input fps <= {limit:g} (MLPerf TEST04)"}


def sampled_accuracy_check(samples: list[tuple[int, np.ndarray]], reference: Callable[[int], np.ndarray],
                           floor_db: float, data_range: float, statistic: str) -> dict:
    """TEST01: each output sampled during the timed run against an untimed run of the same input,
    judged by `statistic` (the floor's, srharness.statistics) against `floor_db`."""
    from srharness.statistics import per_pair_psnr
    from srharness.statistics import statistic as named
    if not samples:
        return {"passed": False, "reason": "no output was sampled during the timed run", "floor_db": floor_db}
    outs, refs = [y for _, y in samples], [reference(i) for i, _ in samples]
    worst = named(statistic)(outs, refs, data_range)
    scores = per_pair_psnr(outs, refs, data_range)
    return {"passed": bool(worst >= floor_db), "worst_db": worst, "floor_db": floor_db, "statistic": statistic,
            "samples": [{"iteration": i, "db": s} for (i, _), s in zip(samples, scores)],
            "rule": f"every sampled output >= {floor_db:g} dB against the untimed run of its input (MLPerf TEST01)"}


def nonfinite_check(nonfinite: int, checked_values: int) -> dict:
    return {"passed": nonfinite == 0, "nonfinite": int(nonfinite), "checked_values": int(checked_values),
            "rule": "no NaN/Inf in the float outputs (fp16 overflow guard)"}


def independent_loop_check(fps_harness: float, fps_independent: float,
                           tolerance: float = INDEPENDENT_LOOP_TOLERANCE) -> dict:
    ratio = fps_harness / fps_independent if fps_independent > 0 else math.inf
    return {"fps_harness": fps_harness, "fps_independent": fps_independent, "ratio": ratio,
            "tolerance": tolerance, "passed": bool(abs(ratio - 1.0) <= tolerance),
            "rule": f"harness fps_gpu_compute within {tolerance:.0%} of an independent event loop over the same module"}

