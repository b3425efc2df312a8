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

One job per module: timers (CUDA events and their CPU twin), loops (the timing loops and their
configuration), figures (the named figures), audits (TEST01 / TEST04 / non-finite / independent
loop), nvml (the GPU's state), measure (all of them for one pipeline). The pipelines they drive are
runners (srharness.runners.device.DevicePipeline), built by the deploy layer (srharness.deploy).
"""
from __future__ import annotations

from srharness.perf_gpu.audits import (
    CACHING_SPEEDUP_LIMIT,
    INDEPENDENT_LOOP_TOLERANCE,
    caching_check,
    independent_loop_check,
    nonfinite_check,
    sampled_accuracy_check,
)
from srharness.perf_gpu.figures import FIGURE_NAMES, GpuFigures, figures_from_loops
from srharness.perf_gpu.loops import GpuPerfConfig, LoopResult, independent_event_loop, time_compute, time_host_e2e
from srharness.perf_gpu.measure import measure_pipeline
from srharness.perf_gpu.nvml import environment_conditions, gpu_environment, torch_cuda_info
from srharness.perf_gpu.timers import CudaTimer, Event, EventTimer, HostTimer, timer_for

__all__ = [
    "CACHING_SPEEDUP_LIMIT", "INDEPENDENT_LOOP_TOLERANCE", "caching_check", "independent_loop_check",
    "nonfinite_check", "sampled_accuracy_check", "FIGURE_NAMES", "GpuFigures", "figures_from_loops",
    "GpuPerfConfig", "LoopResult", "independent_event_loop", "time_compute", "time_host_e2e", "measure_pipeline",
    "environment_conditions", "gpu_environment", "torch_cuda_info", "CudaTimer", "Event", "EventTimer",
    "HostTimer", "timer_for",
]
