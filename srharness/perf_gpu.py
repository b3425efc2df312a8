"""GPU timing as trtexec and MLPerf LoadGen define it, with accuracy checked during the timed run.

Figures, each named for what it measures (never one `fps` for two things):

- `fps_gpu_compute`: batch * 1000 / mean GPU compute ms, where compute is the time between two
  events recorded on the stream around the enqueue of one inference (trtexec "GPU Compute Time").
  The host never waits per iteration: events go into a ring, the oldest pair is read only when its
  slot is reused (R iterations later, long finished), and the host synchronises once at the end.
- `h2d_ms`, `d2h_ms`: events around the copies of the host end-to-end loop (trtexec "H2D/D2H Latency").
- `fps_host_e2e`: batch * 1000 / mean host latency, perf_counter around copy in, inference
  (including any uint8 conversion on the GPU) and copy out, waiting for the output (trtexec "Latency").
- `fps_gpu_span`: batch * iterations * 1000 / GPU ms from the first compute event to the last
  (back-to-back throughput, gaps included).

Warm-up runs for at least `warmup_iterations` AND `warmup_seconds`; timing for at least
`min_iterations` AND `min_seconds` (trtexec --warmUp / --iterations / --duration). Statistics
(percentiles, CV, unstable) are srharness.perf.PerfResult's, so CPU and GPU figures share one
arithmetic.

Correctness during timing (MLPerf's audit tests):
- TEST01: the output of every `sample_every`-th timed iteration is kept (on the device, outside
  the event window) and compared afterwards with the same pipeline's untimed run of the same
  input; below the precision's agreement floor the figure is marked failed.
- TEST04: the compute loop over distinct inputs vs over one repeated input; repeated inputs more
  than `CACHING_SPEEDUP_LIMIT` faster flags result caching.
- non-finite guard: NaN/Inf (fp16 overflow) counted on the sampled float outputs, before any
  uint8 conversion could hide them.

Everything that touches CUDA is behind `EventTimer`; `HostTimer` is its CPU twin (synchronous
work, clock-stamped "events"), which is also how the arithmetic is unit-tested with a fake clock.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

from srharness.perf import DEFAULT_UNSTABLE_CV, PerfResult
# the device pipeline and its options live beside the runners that subclass it (the runners never
# import this timing layer); re-exported, as callers have always found them here
from srharness.runners.device import (  # noqa: F401
    COMPILE_MODES,
    PRECISIONS,
    DevicePipeline,
    GpuOptions,
    GpuUnavailable,
    options_dict,
    require_cuda,
)

# MLPerf inference audit TEST04 (result caching): the run on one repeated sample must not be more
# than 10% faster than the run on distinct samples.
CACHING_SPEEDUP_LIMIT = 1.10
# The acceptance: the harness's GPU-compute fps within 10% of an independent event loop.
INDEPENDENT_LOOP_TOLERANCE = 0.10
FIGURE_NAMES = ("fps_gpu_compute", "fps_gpu_span", "fps_host_e2e")


# ---------------------------------------------------------------- configuration
@dataclass(frozen=True)
class GpuPerfConfig:
    warmup_iterations: int = 5
    warmup_seconds: float = 0.2       # trtexec --warmUp=200 (ms)
    min_iterations: int = 10          # trtexec --iterations=10
    min_seconds: float = 3.0          # trtexec --duration=3 (s)
    max_seconds: float | None = None  # hard stop for very slow calls; min_iterations still wins
    batch: int = 1
    unstable_cv: float = DEFAULT_UNSTABLE_CV
    ring: int = 64                    # compute event pairs in flight before the oldest is read
    sample_every: int = 50            # TEST01: keep the output of every Nth timed iteration (0: none)
    max_samples: int = 4              # ... at most this many (device memory is bounded)

    def __post_init__(self):
        problems = [f"{k} {getattr(self, k)} must be >= {low}" for k, low in
                    (("warmup_iterations", 0), ("min_iterations", 1), ("batch", 1), ("ring", 1),
                     ("sample_every", 0), ("max_samples", 0)) if getattr(self, k) < low]
        problems += [f"{k} {getattr(self, k)} must be >= 0" for k in ("warmup_seconds", "min_seconds")
                     if getattr(self, k) < 0]
        if problems:
            raise ValueError("GpuPerfConfig: " + "; ".join(problems))



# ---------------------------------------------------------------- events
class Event(Protocol):
    def record(self) -> None: ...
    def synchronize(self) -> None: ...
    def elapsed_time(self, end: "Event") -> float: ...   # ms, like torch.cuda.Event


class EventTimer(Protocol):
    def event(self) -> Event: ...
    def synchronize(self) -> None: ...


class _HostEvent:
    def __init__(self, clock):
        self._clock, self.t = clock, None

    def record(self) -> None:
        self.t = self._clock()

    def synchronize(self) -> None:
        pass

    def elapsed_time(self, end: "_HostEvent") -> float:
        if self.t is None or end.t is None:
            raise RuntimeError("elapsed_time of an event that was never recorded")
        return (end.t - self.t) * 1000.0


class HostTimer:
    """The CPU twin of CudaTimer: work is synchronous, an event is the clock when recorded."""
    kind = "host clock (CPU twin)"

    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        self.clock = clock

    def event(self) -> _HostEvent:
        return _HostEvent(self.clock)

    def synchronize(self) -> None:
        pass


class _CudaEvent:
    def __init__(self, stream):
        import torch
        self.ev, self.stream = torch.cuda.Event(enable_timing=True), stream

    def record(self) -> None:
        self.ev.record(self.stream)

    def synchronize(self) -> None:
        self.ev.synchronize()

    def elapsed_time(self, end: "_CudaEvent") -> float:
        return self.ev.elapsed_time(end.ev)


class CudaTimer:
    """CUDA events on one stream (the current stream by default)."""
    kind = "cuda events"

    def __init__(self, stream=None):
        import torch
        self.stream = stream or torch.cuda.current_stream()

    def event(self) -> _CudaEvent:
        return _CudaEvent(self.stream)

    def synchronize(self) -> None:
        self.stream.synchronize()


# ---------------------------------------------------------------- the timing loops
@dataclass
class LoopResult:
    latencies: dict[str, list[float]]   # series name -> ms per iteration
    warmup_iterations: int
    warmup_seconds: float
    seconds: float                      # host wall time of the timed phase (after the final sync)
    span_ms: float | None = None        # GPU time from the first compute event to the last
    samples: list[tuple[int, Any]] = field(default_factory=list)   # TEST01: (iteration, output)


def _warm_up(step: Callable[[int], None], timer: EventTimer, config: GpuPerfConfig, clock) -> tuple[int, float]:
    start, warm = clock(), 0
    while warm < config.warmup_iterations or clock() - start < config.warmup_seconds:
        step(warm)
        timer.synchronize()     # warm-up is not timed; syncing keeps "seconds" real device time
        warm += 1
    return warm, clock() - start


def _done(n: int, elapsed: float, config: GpuPerfConfig) -> bool:
    if n < config.min_iterations:
        return False
    return elapsed >= config.min_seconds or (config.max_seconds is not None and elapsed >= config.max_seconds)


def time_compute(enqueue: Callable[[int], None], timer: EventTimer, config: GpuPerfConfig, *,
                 prepare: Callable[[int], None] | None = None, sample: Callable[[int], Any] | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> LoopResult:
    """GPU compute time of `enqueue(i)`: an event pair around each enqueue, no per-iteration host
    sync. `prepare(i)` (e.g. point the static input at sample i) runs outside the events;
    `sample(i)` (TEST01: clone the output) runs after the end event, on sampled iterations."""
    step = (lambda i: (prepare(i), enqueue(i))) if prepare else enqueue
    warm, warm_s = _warm_up(step, timer, config, clock)
    ring = [(timer.event(), timer.event()) for _ in range(config.ring)]
    first, last = timer.event(), timer.event()
    compute: list[float] = []
    samples: list[tuple[int, Any]] = []
    t0 = clock()
    i = 0
    while True:
        start, end = ring[i % config.ring]
        if i >= config.ring:            # the slot's previous pair is R iterations old
            end.synchronize()
            compute.append(start.elapsed_time(end))
        if prepare:
            prepare(i)
        start.record()
        if i == 0:
            first.record()
        enqueue(i)
        end.record()
        if sample and config.sample_every and i % config.sample_every == 0 and len(samples) < config.max_samples:
            samples.append((i, sample(i)))
        i += 1
        if _done(i, clock() - t0, config):
            break
    last.record()
    timer.synchronize()
    for j in range(max(0, i - config.ring), i):     # the pairs still in the ring, in order
        start, end = ring[j % config.ring]
        compute.append(start.elapsed_time(end))
    return LoopResult({"gpu_compute": compute}, warm, warm_s, clock() - t0, first.elapsed_time(last), samples)


def time_host_e2e(h2d: Callable[[int], None], compute: Callable[[int], None], d2h: Callable[[int], None],
                  timer: EventTimer, config: GpuPerfConfig, *,
                  clock: Callable[[], float] = time.perf_counter) -> LoopResult:
    """Host end-to-end latency of copy in + compute + copy out, waiting for the output each
    iteration, with the H2D / compute / D2H split from events between the three."""
    def step(i):
        h2d(i), compute(i), d2h(i)
    warm, warm_s = _warm_up(step, timer, config, clock)
    e = [timer.event() for _ in range(4)]
    series: dict[str, list[float]] = {"host_e2e": [], "h2d": [], "e2e_compute": [], "d2h": []}
    t0 = clock()
    while True:
        t = clock()
        e[0].record()
        h2d(len(series["host_e2e"]))
        e[1].record()
        compute(len(series["host_e2e"]))
        e[2].record()
        d2h(len(series["host_e2e"]))
        e[3].record()
        e[3].synchronize()            # end to end: the host has the output
        series["host_e2e"].append((clock() - t) * 1000.0)
        series["h2d"].append(e[0].elapsed_time(e[1]))
        series["e2e_compute"].append(e[1].elapsed_time(e[2]))
        series["d2h"].append(e[2].elapsed_time(e[3]))
        if _done(len(series["host_e2e"]), clock() - t0, config):
            break
    return LoopResult(series, warm, warm_s, clock() - t0)


def independent_event_loop(fn: Callable[[], None], timer: EventTimer, *, iterations: int = 200,
                           warmup: int = 20) -> float:
    """Mean ms per call of `fn` measured the plainest way: warm up, one event before and one after
    `iterations` back-to-back calls. Deliberately shares no code with time_compute, so the two
    can check each other (the issue's "within 10% of an independent CUDA-event loop")."""
    for _ in range(warmup):
        fn()
    timer.synchronize()
    start, end = timer.event(), timer.event()
    start.record()
    for _ in range(iterations):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / iterations


# ---------------------------------------------------------------- figures
def _perf(latencies: list[float], config: GpuPerfConfig, loop: LoopResult, conditions: dict) -> PerfResult:
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
    fig = GpuFigures(_perf(compute.latencies["gpu_compute"], config, compute, cond), span_ms=compute.span_ms,
                     conditions=cond)
    if e2e is not None:
        fig.e2e = _perf(e2e.latencies["host_e2e"], config, e2e, cond)
        fig.h2d = _perf(e2e.latencies["h2d"], config, e2e, cond)
        fig.e2e_compute = _perf(e2e.latencies["e2e_compute"], config, e2e, cond)
        fig.d2h = _perf(e2e.latencies["d2h"], config, e2e, cond)
    return fig


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


# ---------------------------------------------------------------- the GPU's state (NVML)
def gpu_environment(index: int = 0) -> dict[str, Any]:
    """Name, driver, clocks, power, temperature and the other processes on GPU `index`, from
    nvidia-ml-py; {"nvml": "unavailable: <reason>"} where it cannot be read."""
    try:
        import pynvml
    except ImportError as exc:
        return {"nvml": f"unavailable: nvidia-ml-py is not installed ({exc}); pip install 'srharness[gpu]'"}
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return {"nvml": f"unavailable: {exc}"}
    try:
        h = pynvml.nvmlDeviceGetHandleByIndex(index)

        def read(name, *args, scale=1.0):
            try:
                v = getattr(pynvml, name)(*args)
                return v / scale if scale != 1.0 else (v.decode() if isinstance(v, bytes) else v)
            except (pynvml.NVMLError, AttributeError) as exc:   # a call this driver / binding lacks
                return f"unavailable: {exc}"
        procs = []
        for fn in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            try:
                procs += [(p.pid, p.usedGpuMemory) for p in getattr(pynvml, fn)(h)]
            except pynvml.NVMLError:
                pass
        others = sorted({pid for pid, _ in procs if pid != os.getpid()})
        return {
            "nvml": "ok", "index": index, "name": read("nvmlDeviceGetName", h),
            "driver": read("nvmlSystemGetDriverVersion"),
            "sm_clock_mhz": read("nvmlDeviceGetClockInfo", h, pynvml.NVML_CLOCK_SM),
            "sm_clock_max_mhz": read("nvmlDeviceGetMaxClockInfo", h, pynvml.NVML_CLOCK_SM),
            "mem_clock_mhz": read("nvmlDeviceGetClockInfo", h, pynvml.NVML_CLOCK_MEM),
            "power_w": read("nvmlDeviceGetPowerUsage", h, scale=1000.0),
            "power_limit_w": read("nvmlDeviceGetEnforcedPowerLimit", h, scale=1000.0),
            "temperature_c": read("nvmlDeviceGetTemperature", h, pynvml.NVML_TEMPERATURE_GPU),
            "throttle_reasons": read("nvmlDeviceGetCurrentClocksThrottleReasons", h),
            "other_processes": others,
        }
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass


def environment_conditions(before: dict, after: dict) -> dict:
    """The NVML snapshots around a measurement, and whether another process used the GPU."""
    if before.get("nvml") != "ok":
        return {"gpu_state": before, "other_process_used_gpu": "unknown: " + str(before.get("nvml"))}
    others = sorted(set(before.get("other_processes", [])) | set(after.get("other_processes", [])))
    return {"gpu_state_before": before, "gpu_state_after": after, "other_process_used_gpu": bool(others),
            "other_pids": others}


def torch_cuda_info() -> dict[str, Any]:
    import torch
    info = {"torch": torch.__version__, "torch.version.cuda": torch.version.cuda}
    if torch.cuda.is_available():
        info.update(device=torch.cuda.get_device_name(0), capability=".".join(map(str, torch.cuda.get_device_capability(0))),
                    cudnn=torch.backends.cudnn.version())
    return info


def timer_for(device: str, clock: Callable[[], float] = time.perf_counter) -> EventTimer:
    return CudaTimer() if device == "cuda" else HostTimer(clock)


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
        rep = _perf(repeated.latencies["gpu_compute"], config, repeated, {})
        # medians: one clock ramp or hiccup in either loop must not read as caching
        fig.checks["test04"] = caching_check(config.batch * 1000.0 / fig.compute.median_ms,
                                             config.batch * 1000.0 / rep.median_ms)
    if independent:
        pipe.prepare(0)
        ms = independent_event_loop(pipe.compute, timer, iterations=max(config.min_iterations, 50))
        fig.checks["independent_loop"] = independent_loop_check(fig.fps_gpu_compute, config.batch * 1000.0 / ms)
    return fig


def independent_loop_check(fps_harness: float, fps_independent: float,
                           tolerance: float = INDEPENDENT_LOOP_TOLERANCE) -> dict:
    ratio = fps_harness / fps_independent if fps_independent > 0 else math.inf
    return {"fps_harness": fps_harness, "fps_independent": fps_independent, "ratio": ratio,
            "tolerance": tolerance, "passed": bool(abs(ratio - 1.0) <= tolerance),
            "rule": f"harness fps_gpu_compute within {tolerance:.0%} of an independent event loop over the same module"}

