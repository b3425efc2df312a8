"""Every figure of one pipeline: the timing loops, the named figures, the audits of the timed run
and the GPU's state before and after."""
from __future__ import annotations

import time
from typing import Callable

from srharness.perf_gpu.audits import caching_check, independent_loop_check, nonfinite_check, sampled_accuracy_check
from srharness.perf_gpu.figures import GpuFigures, figures_from_loops, perf_result
from srharness.perf_gpu.loops import GpuPerfConfig, independent_event_loop, time_compute, time_host_e2e
from srharness.perf_gpu.nvml import environment_conditions, gpu_environment, torch_cuda_info
from srharness.perf_gpu.timers import EventTimer, timer_for
from srharness.runners.device import DevicePipeline


def measure_pipeline(pipe: DevicePipeline, config: GpuPerfConfig = GpuPerfConfig(), *,
                     agreement: str = "gpu_agreement", host_e2e: bool = True, caching: bool = True, independent: bool = False,
                     timer: EventTimer | None = None, clock: Callable[[], float] = time.perf_counter,
                     conditions: dict | None = None) -> GpuFigures:
    """Every figure of one pipeline: compute loop over distinct inputs (with TEST01 samples),
    host end-to-end loop with the copy split, TEST04 repeated-input loop, the non-finite guard,
    and optionally the independent event loop; NVML state before and after. TEST01 is judged by
    the `agreement` tolerance (srharness/tolerances.yaml): its floor at the pipeline's precision,
    by its named statistic."""
    from srharness.tolerances import tolerance
    agree = tolerance(agreement)
    pipe.build()
    with pipe.on_stream():
        return _measure(pipe, config, agree, host_e2e, caching, independent,
                        timer or timer_for(pipe.device, clock), clock, conditions)


def _measure(pipe, config, agree, host_e2e, caching, independent, timer, clock, conditions) -> GpuFigures:
    before = gpu_environment() if pipe.device == "cuda" else {"nvml": "not applicable: CPU twin"}
    compute = time_compute(pipe.compute, timer, config, prepare=pipe.prepare, sample=pipe.sample, clock=clock)
    e2e = time_host_e2e(pipe.h2d, pipe.compute, pipe.d2h, timer, config, clock=clock) if host_e2e else None
    after = gpu_environment() if pipe.device == "cuda" else before
    cond = {**pipe.conditions(), "batch": config.batch, "timer": getattr(timer, "kind", type(timer).__name__),
            **(torch_cuda_info() if pipe.device == "cuda" else {}), **environment_conditions(before, after),
            **(conditions or {})}
    fig = figures_from_loops(compute, e2e, config, cond)
    samples = [(i, pipe.to_model_range(y.cpu().numpy())) for i, y in compute.samples]
    fig.checks["test01"] = sampled_accuracy_check(samples, pipe.reference, agree.floor(pipe.options.precision),
                                                  pipe.input_range, agree.statistic)
    fig.checks["nonfinite"] = nonfinite_check(*pipe.nonfinite())
    if caching:
        repeated = time_compute(pipe.compute, timer, config, prepare=lambda i: pipe.prepare(0), clock=clock)
        rep = perf_result(repeated.latencies["gpu_compute"], config, repeated, {})
        # medians: one clock ramp or hiccup in either loop must not read as caching
        fig.checks["test04"] = caching_check(config.batch * 1000.0 / fig.compute.median_ms,
                                             config.batch * 1000.0 / rep.median_ms)
    if independent:
        pipe.prepare(0)
        ms = independent_event_loop(pipe.compute, timer, iterations=max(config.min_iterations, 50))
        fig.checks["independent_loop"] = independent_loop_check(fig.fps_gpu_compute, config.batch * 1000.0 / ms)
    return fig

