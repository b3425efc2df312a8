"""The timing loops (trtexec's): the GPU compute loop (an event pair per enqueue, no per-iteration
host sync), the host end-to-end loop with its H2D / compute / D2H split, and the independent event
loop they are checked against. Warm-up runs for at least `warmup_iterations` AND `warmup_seconds`;
timing for at least `min_iterations` AND `min_seconds` (trtexec --warmUp / --iterations / --duration)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from srharness.perf import DEFAULT_UNSTABLE_CV
from srharness.perf_gpu.timers import EventTimer


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

