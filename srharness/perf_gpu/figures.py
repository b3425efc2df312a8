"""The named figures of one timed pipeline (never one `fps` for two things): fps_gpu_compute,
fps_gpu_span, fps_host_e2e and the H2D/compute/D2H split, with the statistics of
srharness.perf.PerfResult, so CPU and GPU figures share one arithmetic."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from srharness.perf import PerfResult
from srharness.perf_gpu.loops import GpuPerfConfig, LoopResult

FIGURE_NAMES = ("fps_gpu_compute", "fps_gpu_span", "fps_host_e2e")


def perf_result(latencies: list[float], config: GpuPerfConfig, loop: LoopResult, conditions: dict) -> PerfResult:
    return PerfResult(list(latencies), config.batch, loop.warmup_iterations, loop.warmup_seconds, loop.seconds,
                      config.unstable_cv, conditions)


@dataclass
class GpuFigures:
    """One model, one variant, one batch: the named figures, their statistics and conditions."""
    compute: PerfResult
    e2e: PerfResult | None = None
    h2d: PerfResult | None = None
    e2e_compute: PerfResult | None = None
    d2h: PerfResult | None = None
    span_ms: float | None = None
    conditions: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)   # test01, test04, nonfinite, independent

    @property
    def fps_gpu_compute(self) -> float:
        return self.compute.throughput

    @property
    def fps_gpu_span(self) -> float | None:
        if not self.span_ms:
            return None
        return self.compute.batch * self.compute.iterations * 1000.0 / self.span_ms

    @property
    def fps_host_e2e(self) -> float | None:
        return self.e2e.throughput if self.e2e else None

    def split_ms(self) -> dict[str, float] | None:
        """Mean H2D, compute and D2H of the end-to-end loop, and the host time none of them covers
        (launch, Python, synchronisation)."""
        if self.e2e is None:
            return None
        parts = {"h2d_ms": self.h2d.mean_ms, "compute_ms": self.e2e_compute.mean_ms, "d2h_ms": self.d2h.mean_ms}
        return {**parts, "host_e2e_ms": self.e2e.mean_ms, "host_overhead_ms": self.e2e.mean_ms - sum(parts.values())}

    @property
    def passed(self) -> bool:
        """False when a correctness check of the timed run failed: such a figure is not reported as valid."""
        return all(c.get("passed", True) for c in self.checks.values() if isinstance(c, dict))

    def to_dict(self) -> dict[str, Any]:
        def stats(r: PerfResult | None):
            return None if r is None else {k: v for k, v in r.summary().items() if k != "conditions"}
        return {
            "fps_gpu_compute": self.fps_gpu_compute, "fps_gpu_span": self.fps_gpu_span,
            "fps_host_e2e": self.fps_host_e2e, "split_ms": self.split_ms(),
            "gpu_compute": stats(self.compute), "host_e2e": stats(self.e2e), "h2d": stats(self.h2d),
            "d2h": stats(self.d2h), "e2e_compute": stats(self.e2e_compute),
            "valid": self.passed, "checks": self.checks, "conditions": self.conditions,
        }


def figures_from_loops(compute: LoopResult, e2e: LoopResult | None, config: GpuPerfConfig,
                       conditions: dict | None = None) -> GpuFigures:
    cond = {"warmup_iterations_min": config.warmup_iterations, "warmup_seconds_min": config.warmup_seconds,
            "min_iterations": config.min_iterations, "min_seconds": config.min_seconds, "ring": config.ring,
            **(conditions or {})}
    fig = GpuFigures(perf_result(compute.latencies["gpu_compute"], config, compute, cond), span_ms=compute.span_ms,
                     conditions=cond)
    if e2e is not None:
        fig.e2e = perf_result(e2e.latencies["host_e2e"], config, e2e, cond)
        fig.h2d = perf_result(e2e.latencies["h2d"], config, e2e, cond)
        fig.e2e_compute = perf_result(e2e.latencies["e2e_compute"], config, e2e, cond)
        fig.d2h = perf_result(e2e.latencies["d2h"], config, e2e, cond)
    return fig

