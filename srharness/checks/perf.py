"""CPU performance checks: torch and onnxruntime variants of one model at the guide's input shape,
measured in one run, with the ratios between them reported. No absolute-time assertion: the CI
machine is shared and noisy, so figures are recorded (with their conditions), never judged.

Shapes: the guide's (SRCNN and VDSR 1x1x256x256) where one call takes a few seconds at most on
the CI's shared cores; RDN at its guide shape 1x3x114x114 takes 15 s (torch) / 10 s (onnxruntime)
per call with one thread, so it is timed at 38x38 (a third of each side), and RCAN SR4K's
3x1080x1920 at 270x480 (a quarter of each side). The shape is recorded with every figure, with
`at_guide_shape`. Each model's CPU shape is its spec's `cpu_perf_shape` (srharness.registry).
"""
from __future__ import annotations

import contextlib
import math
import time

import pytest

from srharness import report
from srharness.records import Verdict
from srharness.checks import ModelChecks

# One intra-op thread per backend: CI shares 2 cores between several jobs, and torch's OpenMP
# spin-waits make 2 threads many times slower than 1 under load; equal threads keep ratios fair.
CPU_PERF_THREADS = 1
VARIANTS = ("torch", "ort", "ort-fp16", "ort-int8")   # torch first: the ratios are against it


# Each variant's warm-up call (first-call allocations, kernel and arena set-up) runs before the timed
# block, beside other tests, so the other cores idle less. A call shorter than WARM_AGAIN_UNDER_S is
# warmed up once more inside the block: at that length the caches the other tests left behind show
# in its first timed calls (SRCNN's CV went from 0.02 to 0.13 without it); a longer call's does not.
WARM_AGAIN_UNDER_S = 0.25


def cpu_perf_config(warmup_iterations: int = 0):
    from srharness.perf import PerfConfig
    return PerfConfig(warmup_iterations=warmup_iterations, min_iterations=3, min_seconds=0.5, max_seconds=10.0)


class PerfChecks(ModelChecks):
    # alone only while timing (sr_alone): exports, calibrations and builds run beside other tests
    pytestmark = [pytest.mark.perf(alone="measurement")]

    def test_cpu_variants(self, tmp_path, sr_record, sr_alone, sr_export_cache):
        import torch
        from srharness.models import get_model_spec
        from srharness.perf_targets import guide_shape

        spec = get_model_spec(self.model)
        # smaller than the guide's shape where a call would take far more than a few seconds
        shape = spec.cpu_perf_shape or guide_shape(self.model)
        # an ONNX-only model has no torch variant: onnxruntime fp32 is the reference
        variants = VARIANTS if spec.has_torch else tuple(v for v in VARIANTS if v != "torch")
        threads_before = torch.get_num_threads()   # build_target sets torch's global thread count
        try:
            results = self._measure_variants(tmp_path, sr_record, shape, variants, alone=sr_alone,
                                             export_cache=sr_export_cache)
        finally:
            torch.set_num_threads(threads_before)
        ref = variants[0]
        ref_fps = results[ref][1].throughput
        for backend, (target, result) in results.items():
            assert math.isfinite(result.throughput) and result.throughput > 0, f"{backend}: no usable timing"
            if backend == ref:
                continue
            ratio = result.throughput / ref_fps
            print(f"{self.model}: {backend} / {ref} fps = {ratio:.3f}")
            sr_record(Verdict(model=self.model, check="perf", metric=f"fps_ratio_vs_{ref}", measured=ratio,
                              hardware="cpu", backend=backend, precision=target.precision, scale=self.scale,
                              conditions={"shape": list(target.input_shape), "threads": CPU_PERF_THREADS},
                              notes=f"{backend} {result.throughput:.3f} fps / {ref} fp32 {ref_fps:.3f} fps"))

    def _measure_variants(self, tmp_path, sr_record, shape, variants=VARIANTS, alone=contextlib.nullcontext,
                          export_cache=None) -> dict:
        """Every variant built and warmed up first (beside other tests), then all timed in one `alone` block (the
        sr_alone fixture: nothing else of the run executes) under the CPU device lock (no other
        process measures meanwhile). Exports go through the run's export cache (`export_cache`: the
        sr_export_cache fixture), so a warm run re-exports nothing."""
        from srharness.perf import device_lock, measure
        from srharness.perf_targets import build_target, guide_shape
        targets = {backend: build_target(self.model, backend, shape=shape, scale=self.scale, workdir=tmp_path,
                                         threads=CPU_PERF_THREADS, export_cache=export_cache) for backend in variants}
        call_s = {}                     # each variant's warm-up call, and how long it took
        for backend, target in targets.items():
            start = time.perf_counter()
            target.call()
            call_s[backend] = time.perf_counter() - start
        timed = {}
        with alone(), device_lock("cpu"):
            for backend, target in targets.items():
                config = cpu_perf_config(warmup_iterations=int(call_s[backend] < WARM_AGAIN_UNDER_S))
                timed[backend] = measure(target.call, config, conditions={
                    **target.conditions, "guide_shape": list(guide_shape(self.model)),
                    "at_guide_shape": tuple(shape) == guide_shape(self.model),
                    "warmup_calls_before_timing": 1})
        results = {}
        for backend, target in targets.items():
            result = timed[backend]
            results[backend] = (target, result)
            report.attach_latency_plot(f"{self.model} {backend} latency (ms)", result.latencies_ms)
            summary = result.summary()
            print(f"{self.model} {backend} {target.precision} {list(target.input_shape)}: "
                  f"mean {summary['latency_ms']['mean']:.2f} ms, p90 {summary['latency_ms']['p90']:.2f} ms, "
                  f"{result.throughput:.3f} fps, CV {result.cv:.3f}{' UNSTABLE' if result.unstable else ''}")
            for metric, value, unit in (("fps", result.throughput, "fps"), ("latency_ms", result.mean_ms, "ms")):
                sr_record(Verdict(model=self.model, check="perf", metric=metric, measured=value, hardware="cpu",
                                  backend=backend, precision=target.precision, scale=self.scale, unit=unit,
                                  conditions=summary, notes="unstable run (CV above threshold)" if result.unstable else ""))
        return results
