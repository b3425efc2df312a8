"""GPU checks (suites/<model>/test_cuda.py subclass `GpuChecks`): accuracy of every GPU variant and
timing as trtexec/MLPerf define it (srharness.perf_gpu). The trtexec build-and-time path of the
guides' T4 baselines stays in srharness.checks.hardware.CudaChecks.

- fidelity: every GPU backend (torch-cuda fp32/fp16/bf16, ort-cuda, ort-trt, tensorrt) against
  torch fp32 on the CPU on the same crops of real images; the gpu_agreement floor of its
  precision, by that floor's statistic (srharness/tolerances.yaml). An absent backend (no onnxruntime-gpu, no tensorrt)
  skips with what was looked for.
- task accuracy (real weights: official VDSR with the shared data): torch-cuda fp16 and bf16 on
  Set5 under every protocol that has a torch PSNR golden for the model, judged by the golden's rule.
- timing at the guide's shape: each named timing variant (a backend of srharness.backends whose
  `timing.variant` is set; GPU_TIMING_VARIANTS) gives fps_gpu_compute,
  fps_host_e2e and the H2D/compute/D2H split, with TEST01 (outputs sampled in the timed run),
  TEST04 (repeated vs distinct inputs), the NaN/Inf guard and the independent event loop
  (within 10%); a figure whose check fails fails its test. The guides publish no GPU floor, so
  the fps are recorded next to the T4 baseline, not judged against it.
"""
from __future__ import annotations

import pytest

from srharness import report
from srharness.backends import get_backend, timing_variants
from srharness.records import Verdict
from srharness.checks import ModelChecks

GPU_FIDELITY_BACKENDS = ("torch-cuda", "torch-cuda-fp16", "torch-cuda-bf16", "ort-cuda", "ort-trt", "tensorrt")
GPU_TASK_BACKENDS = ("torch-cuda-fp16", "torch-cuda-bf16")


GPU_TIMING_VARIANTS = tuple(timing_variants())


def gpu_perf_config(batch: int = 1):
    from srharness.perf_gpu import GpuPerfConfig
    return GpuPerfConfig(warmup_iterations=5, warmup_seconds=0.5, min_iterations=20, min_seconds=2.0,
                         max_seconds=60.0, batch=batch, sample_every=25)


def _require_cuda():
    import torch
    if not (torch.cuda.is_available() and torch.cuda.device_count() > 0):
        pytest.skip(f"torch.cuda is not available (torch {torch.__version__}, built with CUDA {torch.version.cuda})")


def _unavailable(exc) -> None:
    pytest.skip(str(exc))


class GpuChecks(ModelChecks):
    pytestmark = [pytest.mark.cuda]

    # ------------------------------------------------------------------ fidelity
    @pytest.mark.parametrize("backend", GPU_FIDELITY_BACKENDS)
    def test_gpu_fidelity(self, backend, sr_weights_dir, sr_export_cache, sr_data_dir, sr_record, tmp_path_factory):
        from srharness.backends import BackendUnavailable, get_backend
        from srharness.checks.accuracy import _crops
        from srharness.deploy import deploy
        from srharness.models import get_model_spec
        from srharness.tolerances import tolerance
        from srharness.runners.ort_gpu import PROVIDERS
        _require_cuda()
        spec = get_model_spec(self.model)
        shape = tuple(spec.test_shape)
        inputs = _crops(spec, shape, sr_data_dir)
        common = {"weights": "auto", "weights_dir": sr_weights_dir, "weights_required": False, "shape": shape,
                  "export_cache": sr_export_cache}
        ref = deploy(spec, self.scale, backend="torch", **common)
        weights = ref.weights_desc
        refs = [ref.runner.run(x) for x in inputs]
        precision = get_backend(backend).precision
        try:
            if backend == "tensorrt":       # the accuracy path is the Python API, not trtexec's JSON text dumps
                from srharness.runners.tensorrt import require_tensorrt
                require_tensorrt()
            runner = deploy(spec, self.scale, backend=backend, module=ref.module,
                            workdir=tmp_path_factory.mktemp(f"{self.model}-{backend}"), **common).runner
            outs = [runner.run(x) for x in inputs]
        except BackendUnavailable as exc:
            _unavailable(exc)
        if backend in PROVIDERS:   # onnxruntime falls back to the CPU when the provider fails to load
            took = runner.describe().details.get("providers", [])
            assert took[:1] == [PROVIDERS[backend]], f"{backend}: onnxruntime ran on {took}, not {PROVIDERS[backend]}"
        precision = runner.precision or precision
        agree = tolerance("gpu_agreement")
        floor = agree.floor(precision)
        self.judge_agreement(sr_record, outs, refs, agree, floor=floor, what=f"{backend} vs torch fp32 (CPU)",
                             reference="torch fp32 (CPU)", backend=backend, precision=precision, hardware="cuda",
                             metric="psnr_vs_torch", rule=f">= {floor:g} dB against torch fp32 on the CPU (agreement floor)",
                             dataset="set5" if sr_data_dir else "embedded",
                             conditions={"shape": list(shape), "weights": weights}, details=runner.describe().details)

    # ------------------------------------------------------------------ task accuracy
    @pytest.mark.parametrize("backend", GPU_TASK_BACKENDS)
    def test_gpu_task_accuracy(self, backend, sr_weights_dir, sr_data_dir, sr_golden_dir, sr_record):
        from srharness.backends import BackendUnavailable
        from srharness.checks.accuracy import _goldens
        from srharness.data.datasets import load_dataset
        from srharness.deploy import deploy, resolve_weights
        from srharness.models import get_model_spec
        from srharness.protocols import PROTOCOLS, evaluate
        _require_cuda()
        spec = get_model_spec(self.model)
        if sr_data_dir is None:
            pytest.skip("task accuracy needs Set5: pass --sr-data-dir or set SRHARNESS_DATA_DIR")
        goldens = [g for g in _goldens(str(sr_golden_dir)).select(model=self.model, metric="psnr", backend="torch")
                   if g.protocol in PROTOCOLS and g.dataset == "set5" and g.image is None
                   and g.rule.type != "none" and g.scale in spec.scales]
        if not goldens:
            pytest.skip(f"no torch PSNR golden for {self.model} on set5 under a known protocol")
        dataset = load_dataset("set5", sr_data_dir)
        judged, results = [], {}
        for g in sorted(goldens, key=lambda g: (g.scale, g.protocol)):
            weights = resolve_weights("auto", spec, g.scale, weights_dir=sr_weights_dir, required=False)
            if weights is None:
                continue
            key = (g.protocol, g.scale)
            if key not in results:
                try:
                    runner = deploy(spec, g.scale, backend=backend, weights=weights, build=False).runner
                    results[key] = (evaluate(PROTOCOLS[g.protocol], runner.run, dataset, g.scale, spec), runner)
                except BackendUnavailable as exc:
                    _unavailable(exc)
            result, runner = results[key]
            r = g.judge(result.mean_psnr)
            sr_record(Verdict(model=self.model, check="accuracy", metric="psnr", measured=result.mean_psnr,
                              hardware="cuda", backend=backend, precision=runner.precision, scale=g.scale,
                              protocol=g.protocol, dataset="set5", golden=g.value, golden_id=g.id,
                              rule=g.rule.describe("dB"), better=g.rule.better, passed=r.passed, unit="dB", notes=r.text,
                              conditions={"weights": str(weights),
                                          "per_image": {s.name: round(s.psnr, 4) for s in result.images}}))
            judged.append((g.id, round(result.mean_psnr, 4), g.value, r.passed))
        if not judged:
            pytest.skip(f"no official {self.model} weights in the weights dir (give them with --sr-weights-dir)")
        report.attach_json(f"{backend} task accuracy", judged)
        failed = [j for j in judged if not j[3]]
        assert not failed, f"{self.model} {backend}: PSNR outside the golden's rule: {failed}"

    # ------------------------------------------------------------------ timing
    @pytest.mark.parametrize("variant", [pytest.param(v, marks=pytest.mark.slow) if get_backend(v).timing.slow else v
                                         for v in GPU_TIMING_VARIANTS])
    def test_gpu_timing(self, variant, sr_record, sr_golden_dir, tmp_path):
        from srharness.checks.hardware import _t4_baseline
        from srharness.perf import device_lock
        from srharness.backends import gpu_options
        from srharness.deploy import deploy, guide_shape
        from srharness.perf_gpu import measure_pipeline
        from srharness.runners.device import GpuUnavailable
        _require_cuda()
        backend, options = get_backend(variant).timing.family, gpu_options(variant)   # figures: under its family
        config = gpu_perf_config()
        try:
            pipe = deploy(self.model, self.scale, backend=variant, timing=options, workdir=tmp_path, build=False).runner
            with device_lock("cuda:0"):
                fig = measure_pipeline(pipe, config, independent=True,
                                       conditions={"model": self.model, "variant": variant,
                                                   "guide_shape": list(guide_shape(self.model))})
        except GpuUnavailable as exc:
            _unavailable(exc)
        finally:
            import torch
            pipe = None                 # graphs, pools and compiled kernels go before the next variant
            torch.cuda.empty_cache()
        d = fig.to_dict()
        report.attach_json(f"{self.model} {variant} GPU figures", d)
        report.attach_latency_plot(f"{self.model} {variant} GPU compute (ms)", fig.compute.latencies_ms)
        baseline = _t4_baseline(sr_golden_dir, self.model)
        t4 = (f"; guide's T4 TensorRT fp16 {baseline.value} fps ({baseline.id}): "
              f"x{fig.fps_gpu_compute / baseline.value:.2f}") if baseline else ""
        split = fig.split_ms()
        print(f"\n| {self.model} | {variant} | {fig.conditions['input_shape']} | {fig.fps_gpu_compute:.1f} | "
              f"{fig.fps_host_e2e:.1f} | {split['h2d_ms']:.3f} / {split['compute_ms']:.3f} / {split['d2h_ms']:.3f} | "
              f"{fig.compute.cv:.3f} | {fig.checks['independent_loop']['fps_independent']:.1f} |{t4}")
        for metric, value, result in (("fps_gpu_compute", fig.fps_gpu_compute, fig.compute),
                                      ("fps_host_e2e", fig.fps_host_e2e, fig.e2e)):
            sr_record(Verdict(model=self.model, check="perf", metric=metric, measured=value, hardware="cuda",
                              backend=backend, precision=options.precision, scale=self.scale, unit="fps",
                              conditions={**fig.conditions, "variant": variant, "split_ms": split,
                                          "latency_ms": result.summary()["latency_ms"], "cv": result.cv,
                                          "unstable": result.unstable, "checks": fig.checks},
                              notes=f"{variant}{t4}" + ("; unstable run (CV above threshold)" if result.unstable else "")))
        failed = {k: v for k, v in fig.checks.items() if not v.get("passed", True)}
        assert not failed, f"{self.model} {variant}: correctness checks of the timed run failed: {failed}"
