"""Measurement engine: warm-up, timed iterations, statistics, exclusive devices, per-card figures,
and the profiling hotspot rule.

Like trtexec (`--warmUp` ms, `--iterations` and `--duration`) and MLPerf LoadGen (min query count
and min duration), a measurement warms up for at least `warmup_iterations` calls AND at least
`warmup_seconds`, then times at least `min_iterations` calls AND at least `min_seconds`. Every
figure carries the conditions it was measured under (`PerfResult.to_dict()`).

    with device_lock("cpu"):
        result = measure(lambda: session.run(x), PerfConfig(batch=1), conditions={"shape": ...})
    result.throughput, result.p99_ms, result.cv, result.unstable
"""
from __future__ import annotations

import contextlib
import fcntl
import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from srharness import progress, settings

PERCENTILE_METHOD = "linear"   # numpy's default interpolation between the two nearest ranks
DEFAULT_UNSTABLE_CV = 0.10     # coefficient of variation above which a run is flagged unstable
DEFAULT_HOTSPOT_SHARE_PCT = 20.0


@dataclass(frozen=True)
class PerfConfig:
    warmup_iterations: int = 2
    warmup_seconds: float = 0.0
    min_iterations: int = 10
    min_seconds: float = 1.0
    max_seconds: float | None = None   # hard stop for very slow calls; min_iterations still wins
    batch: int = 1                     # samples per call: throughput = batch / mean latency
    unstable_cv: float = DEFAULT_UNSTABLE_CV

    def __post_init__(self):
        if self.min_iterations < 1 or self.batch < 1 or self.warmup_iterations < 0:
            raise ValueError(f"PerfConfig needs min_iterations >= 1, batch >= 1, warmup_iterations >= 0: {self}")
        # NaN compares False with everything: `elapsed >= nan` would time forever holding the device lock.
        for name in ("warmup_seconds", "min_seconds", "max_seconds", "unstable_cv"):
            value = getattr(self, name)
            if value is None and name == "max_seconds":
                continue
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0) or \
                    (name in ("max_seconds", "unstable_cv") and value == 0):
                raise ValueError(f"PerfConfig {name} must be a finite number >= 0 (> 0 for max_seconds and "
                                 f"unstable_cv), got {value!r}")


@dataclass
class PerfResult:
    latencies_ms: list[float]
    batch: int
    warmup_iterations: int        # what warm-up actually ran
    warmup_seconds: float
    seconds: float                # wall time of the timed phase
    unstable_cv: float
    conditions: dict[str, Any] = field(default_factory=dict)

    @property
    def iterations(self) -> int:
        return len(self.latencies_ms)

    def _pct(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q, method=PERCENTILE_METHOD))

    @property
    def min_ms(self) -> float: return min(self.latencies_ms)
    @property
    def max_ms(self) -> float: return max(self.latencies_ms)
    @property
    def mean_ms(self) -> float: return statistics.fmean(self.latencies_ms)
    @property
    def median_ms(self) -> float: return self._pct(50)
    @property
    def p90_ms(self) -> float: return self._pct(90)
    @property
    def p95_ms(self) -> float: return self._pct(95)
    @property
    def p99_ms(self) -> float: return self._pct(99)

    @property
    def std_ms(self) -> float:
        return statistics.pstdev(self.latencies_ms) if self.iterations > 1 else 0.0

    @property
    def cv(self) -> float:
        """Coefficient of variation of the latencies (std / mean)."""
        return self.std_ms / self.mean_ms if self.mean_ms > 0 else 0.0

    @property
    def unstable(self) -> bool:
        return self.cv > self.unstable_cv

    @property
    def throughput(self) -> float:
        """Samples per second at this batch: batch * 1000 / mean latency (ms), as the guides compute it."""
        from srharness.validate import positive
        mean = positive(self.mean_ms, "mean latency (ms)", "measurement")   # a zero/denormal mean is no figure
        return positive(self.batch * 1000.0 / mean, "throughput", "measurement")

    def summary(self) -> dict[str, Any]:
        return {
            "iterations": self.iterations, "batch": self.batch, "seconds": round(self.seconds, 4),
            "latency_ms": {k: getattr(self, f"{k}_ms") for k in ("min", "mean", "median", "p90", "p95", "p99", "max", "std")},
            "throughput": self.throughput, "cv": self.cv, "unstable": self.unstable,
            "unstable_cv_threshold": self.unstable_cv,
            "warmup": {"iterations": self.warmup_iterations, "seconds": round(self.warmup_seconds, 4)},
            "percentile_method": PERCENTILE_METHOD,
            "conditions": dict(self.conditions),
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "latencies_ms": list(self.latencies_ms)}


def measure(fn: Callable[[], Any], config: PerfConfig = PerfConfig(), *,
            conditions: dict[str, Any] | None = None,
            clock: Callable[[], float] = time.perf_counter) -> PerfResult:
    """Time `fn()` (one call = one batch). `clock` is injectable so the statistics can be tested
    on a fake clock."""
    start = clock()
    warm = 0
    while warm < config.warmup_iterations or clock() - start < config.warmup_seconds:
        fn()
        warm += 1
    warm_seconds = clock() - start
    latencies: list[float] = []
    t0 = clock()
    while True:
        t = clock()
        fn()
        latencies.append((clock() - t) * 1000.0)
        elapsed = clock() - t0
        if len(latencies) >= config.min_iterations:
            if elapsed >= config.min_seconds:
                break
            if config.max_seconds is not None and elapsed >= config.max_seconds:
                break
    cond = {"warmup_iterations_min": config.warmup_iterations, "warmup_seconds_min": config.warmup_seconds,
            "min_iterations": config.min_iterations, "min_seconds": config.min_seconds,
            "max_seconds": config.max_seconds, **(conditions or {})}
    return PerfResult(latencies, config.batch, warm, warm_seconds, clock() - t0, config.unstable_cv, cond)


def per_card(per_device: float, devices_per_card: int) -> float:
    """A card's figure from one device's: the guides multiply by the devices on the card
    (an Ascend 310 card holds 4)."""
    if devices_per_card < 1:
        raise ValueError(f"devices_per_card must be >= 1, got {devices_per_card}")
    return per_device * devices_per_card


# ---------------------------------------------------------------- exclusive devices
def lock_dir() -> Path:
    """Shared by every pytest-xdist worker of every session on this host."""
    return Path(settings.env("SRHARNESS_LOCK_DIR") or Path(tempfile.gettempdir()) / "srharness-device-locks")


@contextlib.contextmanager
def device_lock(device: str, *, timeout: float | None = None) -> Iterator[Path]:
    """Hold the device exclusively while measuring: one flock'ed file per device id
    (e.g. "cpu", "cuda:0", "ascend:0", "vacc:0"). Other workers wait; with `timeout` they give
    up with TimeoutError naming the lock file."""
    d = lock_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / (device.replace("/", "_").replace(":", "_") + ".lock")
    with open(path, "a+") as fh:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (fcntl.LOCK_NB if deadline is not None else 0))
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"device {device} is busy: lock {path} held by another process "
                                       f"for more than {timeout:g} s") from None
                time.sleep(0.05)
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
            with progress.no_pause():
                yield path
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---------------------------------------------------------------- profiling hotspots
@dataclass
class Hotspot:
    op_type: str
    share_pct: float
    total_time_us: float
    count: int
    threshold_pct: float

    def describe(self) -> str:
        return (f"{self.op_type} takes {self.share_pct:.2f}% of device time "
                f"({self.count} call(s), {self.total_time_us:.1f} us), above the {self.threshold_pct:g}% hotspot share")


def find_hotspots(stats, share_pct: float = DEFAULT_HOTSPOT_SHARE_PCT) -> list[Hotspot]:
    """Op types above `share_pct` of device time in an `op_statistic` (srharness.tools.logs.OpStatistic).
    A hotspot is a finding in itself (SPEC.md rule 5: TransData 44.25% and TransposeD 44.21% in the
    RDN case, where TransposeD alone made the 310 card 8x slower)."""
    import math
    if not (isinstance(share_pct, (int, float)) and math.isfinite(share_pct) and 0 <= share_pct <= 100):
        raise ValueError(f"hotspot share {share_pct!r} must be a percentage in 0..100")
    return [Hotspot(o.op_type, o.ratio_pct, o.total_time_us, o.count, share_pct)
            for o in sorted(stats.ops, key=lambda o: -o.ratio_pct) if o.ratio_pct >= share_pct]
