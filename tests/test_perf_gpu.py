"""srharness.perf_gpu on the CPU: the timing arithmetic on an injected clock (events are the clock
when recorded, work advances it by known amounts), figure naming, options, and TEST01 / TEST04 /
the non-finite guard on the CPU twins of the GPU pipelines."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from srharness import perf_gpu as pg
from srharness.perf_gpu import GpuPerfConfig, HostTimer
from srharness.runners.device import GpuOptions


class FakeClock:
    """Seconds; work advances it, nothing else does."""

    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t

    def work(self, ms: float) -> None:
        self.t += ms / 1000.0


def config(**kw) -> GpuPerfConfig:
    base = dict(warmup_iterations=0, warmup_seconds=0.0, min_iterations=10, min_seconds=0.0, ring=3, sample_every=0)
    return GpuPerfConfig(**{**base, **kw})


# ---------------------------------------------------------------- compute loop
def test_compute_latencies_are_the_event_windows_in_order():
    clock = FakeClock()
    durations = [1.0, 2.0, 3.0, 4.0, 5.0]
    # prepare takes 0.5 ms outside the window; the ring (3) is smaller than the run (10)
    loop = pg.time_compute(lambda i: clock.work(durations[i % 5]), HostTimer(clock), config(),
                           prepare=lambda i: clock.work(0.5), clock=clock)
    assert loop.latencies["gpu_compute"] == pytest.approx([durations[i % 5] for i in range(10)])
    # the span runs from the first start event to the last end event: gaps included, last prepare not
    assert loop.span_ms == pytest.approx(sum(durations) * 2 + 0.5 * 9)


def test_fps_is_batch_times_1000_over_mean_ms_and_span_counts_gaps():
    clock = FakeClock()
    cfg = config(batch=4)
    loop = pg.time_compute(lambda i: clock.work(2.0), HostTimer(clock), cfg, prepare=lambda i: clock.work(2.0),
                           clock=clock)
    fig = pg.figures_from_loops(loop, None, cfg)
    assert fig.fps_gpu_compute == pytest.approx(4 * 1000.0 / 2.0)
    assert fig.fps_gpu_span == pytest.approx(4 * 10 * 1000.0 / (10 * 2.0 + 9 * 2.0))
    assert fig.fps_host_e2e is None and fig.split_ms() is None


def test_percentiles_cv_and_unstable_flag():
    clock = FakeClock()
    ms = list(range(1, 101))
    cfg = config(min_iterations=100, ring=7, unstable_cv=0.5)
    loop = pg.time_compute(lambda i: clock.work(ms[i]), HostTimer(clock), cfg, clock=clock)
    c = pg.figures_from_loops(loop, None, cfg).compute
    assert (c.median_ms, c.p90_ms, c.p95_ms, c.p99_ms) == pytest.approx((50.5, 90.1, 95.05, 99.01))
    assert c.cv == pytest.approx(np.std(ms) / np.mean(ms))
    assert c.cv == pytest.approx(0.5716, abs=1e-4) and c.unstable      # above the 0.5 threshold
    steady = pg.time_compute(lambda i: clock.work(3.0), HostTimer(clock), cfg, clock=clock)
    s = pg.figures_from_loops(steady, None, cfg).compute
    assert s.cv == 0.0 and not s.unstable


def test_warm_up_by_time_and_by_iterations():
    clock = FakeClock()
    loop = pg.time_compute(lambda i: clock.work(10.0), HostTimer(clock),
                           config(warmup_iterations=2, warmup_seconds=0.05), clock=clock)
    assert loop.warmup_iterations == 5 and loop.warmup_seconds == pytest.approx(0.05)
    loop = pg.time_compute(lambda i: clock.work(10.0), HostTimer(clock),
                           config(warmup_iterations=8, warmup_seconds=0.01), clock=clock)
    assert loop.warmup_iterations == 8


def test_minimum_duration_and_iterations_both_hold():
    clock = FakeClock()
    by_time = pg.time_compute(lambda i: clock.work(10.0), HostTimer(clock), config(min_iterations=3, min_seconds=0.2),
                              clock=clock)
    assert len(by_time.latencies["gpu_compute"]) == 20 and by_time.seconds == pytest.approx(0.2)
    by_count = pg.time_compute(lambda i: clock.work(10.0), HostTimer(clock), config(min_iterations=30, min_seconds=0.2),
                               clock=clock)
    assert len(by_count.latencies["gpu_compute"]) == 30
    capped = pg.time_compute(lambda i: clock.work(10.0), HostTimer(clock),
                             config(min_iterations=3, min_seconds=10.0, max_seconds=0.05), clock=clock)
    assert len(capped.latencies["gpu_compute"]) == 5


def test_samples_are_taken_every_nth_iteration_up_to_the_cap():
    clock = FakeClock()
    loop = pg.time_compute(lambda i: clock.work(1.0), HostTimer(clock), config(min_iterations=40, sample_every=7,
                                                                                max_samples=4),
                           sample=lambda i: f"out{i}", clock=clock)
    assert loop.samples == [(0, "out0"), (7, "out7"), (14, "out14"), (21, "out21")]


# ---------------------------------------------------------------- host end-to-end loop
def test_host_e2e_split_into_h2d_compute_d2h():
    clock = FakeClock()
    cfg = config(batch=2)
    e2e = pg.time_host_e2e(lambda i: clock.work(1.0), lambda i: clock.work(5.0), lambda i: clock.work(2.0),
                           HostTimer(clock), cfg, clock=clock)
    compute = pg.time_compute(lambda i: clock.work(5.0), HostTimer(clock), cfg, clock=clock)
    fig = pg.figures_from_loops(compute, e2e, cfg)
    split = fig.split_ms()
    assert (split["h2d_ms"], split["compute_ms"], split["d2h_ms"]) == pytest.approx((1.0, 5.0, 2.0))
    assert split["host_e2e_ms"] == pytest.approx(8.0) and split["host_overhead_ms"] == pytest.approx(0.0)
    assert fig.fps_host_e2e == pytest.approx(2 * 1000.0 / 8.0)
    assert fig.fps_gpu_compute == pytest.approx(2 * 1000.0 / 5.0)


def test_figures_are_named_for_what_they_measure():
    clock = FakeClock()
    cfg = config()
    loop = pg.time_compute(lambda i: clock.work(1.0), HostTimer(clock), cfg, clock=clock)
    e2e = pg.time_host_e2e(*(lambda i: clock.work(1.0),) * 3, HostTimer(clock), cfg, clock=clock)
    d = pg.figures_from_loops(loop, e2e, cfg, {"model": "x"}).to_dict()
    assert {"fps_gpu_compute", "fps_gpu_span", "fps_host_e2e", "split_ms"} <= set(d)
    assert "fps" not in d and "throughput" not in d
    json.dumps(d, default=str)


def test_independent_loop_is_mean_ms_per_call():
    clock = FakeClock()
    assert pg.independent_event_loop(lambda: clock.work(2.5), HostTimer(clock), iterations=40, warmup=3) == \
        pytest.approx(2.5)


# ---------------------------------------------------------------- judgements
def test_caching_and_independent_rules():
    assert pg.caching_check(100.0, 109.0)["passed"]
    assert not pg.caching_check(100.0, 111.0)["passed"]
    assert pg.independent_loop_check(95.0, 100.0)["passed"]
    assert pg.independent_loop_check(109.0, 100.0)["passed"]
    assert not pg.independent_loop_check(89.0, 100.0)["passed"]


def test_sampled_accuracy_check():
    ref = np.linspace(0, 1, 64, dtype=np.float32).reshape(1, 1, 8, 8)
    same = pg.sampled_accuracy_check([(0, ref.copy())], lambda i: ref, floor_db=60.0, data_range=1.0,
                                     statistic="worst_psnr")
    assert same["passed"] and math.isinf(same["worst_db"])
    noisy = ref + np.float32(0.01)        # 40 dB on [0,1]
    r = pg.sampled_accuracy_check([(0, ref), (3, noisy)], lambda i: ref, floor_db=60.0, data_range=1.0,
                                  statistic="worst_psnr")
    assert not r["passed"] and r["worst_db"] == pytest.approx(40.0)
    assert not pg.sampled_accuracy_check([], lambda i: ref, 60.0, 1.0, "worst_psnr")["passed"]


def test_options_validate_and_tag():
    from srharness.backends import get_backend, timing_precision
    assert GpuOptions(precision="fp16", channels_last=True, cuda_graphs=True, uint8_io=True).tag() == \
        "fp16+channels_last+cuda_graphs+uint8_io"
    with pytest.raises(ValueError, match="captures CUDA graphs itself"):
        GpuOptions(cuda_graphs=True, compile="reduce-overhead").validate()
    with pytest.raises(ValueError, match="precision"):
        GpuOptions(precision="int4").validate()
    with pytest.raises(ValueError, match="batch"):
        GpuPerfConfig(batch=0)
    assert (get_backend("torch-cuda-fp16").timing.family, timing_precision("torch-cuda-fp16")) == ("torch-cuda", "fp16")
    assert timing_precision("torch-cuda", "bf16") == "bf16"
    assert timing_precision("tensorrt") == "fp16"
    with pytest.raises(ValueError, match="contradicts"):
        timing_precision("torch-cuda-fp16", "bf16")
    with pytest.raises(ValueError, match="bf16 is a torch-cuda precision"):
        timing_precision("ort-cuda", "bf16")
    with pytest.raises(ValueError, match="GPU backend 'ort': one of torch-cuda, torch-cuda-fp32"):
        timing_precision("ort")


def test_agreement_floors_are_the_card_floors():
    from srharness.checks.hardware import MIN_AGREEMENT_PSNR_DB
    from srharness.tolerances import tolerance
    gpu = tolerance("gpu_agreement").values
    for p in ("fp32", "fp16"):
        assert gpu[p] == MIN_AGREEMENT_PSNR_DB[p]
    assert gpu["bf16"] == MIN_AGREEMENT_PSNR_DB["fp16"] - 12.0


def test_nvml_absent_is_recorded_not_raised():
    env = pg.gpu_environment()
    if env["nvml"] == "ok":
        pytest.skip("NVML works here: the unavailable path is not reachable")
    assert env["nvml"].startswith("unavailable: ")
    assert pg.environment_conditions(env, env)["other_process_used_gpu"].startswith("unknown")


# ---------------------------------------------------------------- the CPU twins of the pipelines
@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _srcnn_pipe(**opts):
    from srharness.models import build_model
    from srharness.runners.torch_runner import TorchPipeline
    return TorchPipeline(build_model("srcnn", 2), (1, 1, 16, 16), 1.0, GpuOptions(**opts), device="cpu")


QUICK = dict(warmup_iterations=1, warmup_seconds=0.0, min_iterations=8, min_seconds=0.0, sample_every=2, ring=4)


def test_torch_cpu_twin_runs_every_figure_and_check():
    fig = pg.measure_pipeline(_srcnn_pipe(uint8_io=True), GpuPerfConfig(**QUICK))
    d = fig.to_dict()
    assert d["fps_gpu_compute"] > 0 and d["fps_host_e2e"] > 0 and d["split_ms"]["compute_ms"] > 0
    assert d["checks"]["test01"]["passed"] and len(d["checks"]["test01"]["samples"]) == 4
    assert d["checks"]["nonfinite"] == {**d["checks"]["nonfinite"], "passed": True, "nonfinite": 0}
    assert "test04" in d["checks"]
    assert d["conditions"]["options"]["uint8_io"] and d["conditions"]["input_dtype"] == "uint8"


def test_uint8_io_is_the_float_output_rounded_on_the_device():
    pipe = _srcnn_pipe(uint8_io=True).build()
    u8 = pipe.pool_host[1]
    from srharness.models import build_model
    from srharness.runners.torch_runner import TorchRunner
    ref = TorchRunner(build_model("srcnn", 2)).run(u8.astype(np.float32) / 255.0)
    assert pipe.host_out.dtype == torch.uint8
    np.testing.assert_allclose(pipe.run(u8), np.clip(np.round(ref * 255.0), 0, 255) / 255.0, atol=1e-6)


def test_test01_fails_when_the_timed_loop_ignores_its_inputs():
    pipe = _srcnn_pipe()
    pipe.prepare = lambda i: None          # the bug: the static input never changes
    fig = pg.measure_pipeline(pipe, GpuPerfConfig(**QUICK), host_e2e=False, caching=False)
    assert not fig.checks["test01"]["passed"] and not fig.passed


def test_test04_flags_a_pipeline_that_caches_repeated_inputs():
    clock = FakeClock()

    class Caching(type(_srcnn_pipe())):
        last = None

        def compute(self, i=0):
            same = self.last is not None and torch.equal(self.static_in, self.last)
            clock.work(0.5 if same else 5.0)   # a cache hit skips the work
            self.last = self.static_in.clone()
            super().compute(i)

    from srharness.models import build_model
    pipe = Caching(build_model("srcnn", 2), (1, 1, 16, 16), 1.0, GpuOptions(), device="cpu")
    fig = pg.measure_pipeline(pipe, GpuPerfConfig(**QUICK), host_e2e=False,
                              timer=HostTimer(clock), clock=clock)
    assert fig.checks["test04"]["speedup"] > 5.0          # 5 ms distinct vs 0.5 ms repeated after the first
    assert not fig.checks["test04"]["passed"] and not fig.passed


class _Overflow(nn.Module):
    def forward(self, x):
        return x * 1e5            # above fp16's 65504: inf


def test_fp16_overflow_is_caught_in_timing_and_in_the_runner():
    from srharness.runners.torch_runner import NonFiniteOutput, TorchPipeline, TorchRunner
    pipe = TorchPipeline(_Overflow(), (1, 1, 8, 8), 1.0, GpuOptions(precision="fp16"), device="cpu")
    fig = pg.measure_pipeline(pipe, GpuPerfConfig(**QUICK), host_e2e=False, caching=False)
    assert fig.checks["nonfinite"]["nonfinite"] > 0 and not fig.passed
    with pytest.raises(NonFiniteOutput, match="NaN/Inf"):
        TorchRunner(_Overflow(), precision="fp16").run(np.ones((1, 1, 4, 4), np.float32))


def test_ort_cpu_twin_binds_device_buffers(tmp_path):
    from srharness.export import export_onnx
    from srharness.runners.ort_gpu import OrtGpuPipeline
    onnx = export_onnx("srcnn", tmp_path / "s.onnx", scale=2, shape=(16, 16)).path
    pipe = OrtGpuPipeline(onnx, (1, 1, 16, 16), 1.0, GpuOptions(), device="cpu")
    fig = pg.measure_pipeline(pipe, GpuPerfConfig(**QUICK), caching=False)
    assert fig.checks["test01"]["passed"] and fig.fps_gpu_compute > 0
    torch_pipe = _srcnn_pipe().build()
    x = pipe.pool_host[2]
    from srharness.statistics import worst_psnr
    assert worst_psnr([pipe.run(x)], [torch_pipe.run(x)], 1.0) > 80.0


def test_pipelines_refuse_options_they_cannot_honour(tmp_path):
    from srharness.runners.ort_gpu import OrtGpuPipeline
    with pytest.raises(ValueError, match="does not support channels_last"):
        OrtGpuPipeline(tmp_path / "m.onnx", (1, 1, 8, 8), 1.0, GpuOptions(channels_last=True), device="cpu")
    with pytest.raises(ValueError, match="cuda_graphs needs device cuda"):
        _srcnn_pipe(cuda_graphs=True)


# ---------------------------------------------------------------- the command line
def test_bench_gpu_backend_without_cuda_is_a_clear_error(capsys):
    from srharness.cli import main
    if torch.cuda.is_available():
        pytest.skip("this host has CUDA")
    assert main(["bench", "srcnn", "--backend", "torch-cuda-fp16", "--cuda-graphs"]) == 2
    err = capsys.readouterr().err
    assert "looked for torch.cuda.is_available()" in err and "Traceback" not in err


def test_bench_cpu_twin_prints_named_figures(capsys):
    from srharness.cli import main
    rc = main(["bench", "srcnn", "--backend", "torch-cuda", "--device", "cpu", "--shape", "16x16", "--uint8-io",
               "--iterations", "5", "--min-seconds", "0", "--warmup", "1", "--no-caching-check", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0, out
    assert out[0]["fps_gpu_compute"] > 0 and out[0]["fps_host_e2e"] > 0 and out[0]["valid"]


def test_eval_gpu_backend_without_cuda_is_a_clear_error(capsys):
    from srharness.cli import main
    if torch.cuda.is_available():
        pytest.skip("this host has CUDA")
    assert main(["eval", "srcnn", "--backend", "torch-cuda-fp16", "--dataset", "embedded", "--images", "astronaut"]) == 2
    err = capsys.readouterr().err
    assert "torch-cuda-fp16" in err and "torch.cuda is not available" in err


def test_nvml_state_and_other_processes_from_a_fake_binding(monkeypatch):
    import os
    import sys
    import types

    class NVMLError(Exception):
        pass

    fake = types.SimpleNamespace(
        NVMLError=NVMLError, NVML_CLOCK_SM=0, NVML_CLOCK_MEM=1, NVML_TEMPERATURE_GPU=0,
        nvmlInit=lambda: None, nvmlShutdown=lambda: None, nvmlDeviceGetHandleByIndex=lambda i: "h",
        nvmlDeviceGetName=lambda h: b"NVIDIA H100 80GB HBM3", nvmlSystemGetDriverVersion=lambda: "580.65",
        nvmlDeviceGetClockInfo=lambda h, k: (1980, 2619)[k], nvmlDeviceGetMaxClockInfo=lambda h, k: 1980,
        nvmlDeviceGetPowerUsage=lambda h: 312500, nvmlDeviceGetEnforcedPowerLimit=lambda h: 700000,
        nvmlDeviceGetTemperature=lambda h, k: 41,
        nvmlDeviceGetComputeRunningProcesses=lambda h: [types.SimpleNamespace(pid=os.getpid(), usedGpuMemory=1),
                                                        types.SimpleNamespace(pid=4242, usedGpuMemory=2)],
        nvmlDeviceGetGraphicsRunningProcesses=lambda h: [])   # no throttle-reasons call: recorded as unavailable
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    env = pg.gpu_environment()
    assert env["nvml"] == "ok" and env["name"] == "NVIDIA H100 80GB HBM3" and env["power_w"] == 312.5
    assert env["other_processes"] == [4242] and env["throttle_reasons"].startswith("unavailable")
    cond = pg.environment_conditions(env, {**env, "other_processes": []})
    assert cond["other_process_used_gpu"] is True and cond["other_pids"] == [4242]
    alone = pg.environment_conditions({**env, "other_processes": []}, {**env, "other_processes": []})
    assert alone["other_process_used_gpu"] is False


def test_bench_variants_table_has_the_split_and_skips_what_is_absent(capsys):
    from srharness.cli import main
    rc = main(["bench", "srcnn", "--variants", "torch-cuda-fp32,tensorrt-fp16", "--device", "cpu", "--shape", "16x16",
               "--iterations", "5", "--min-seconds", "0", "--warmup", "1", "--no-caching-check"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "| H2D / compute / D2H ms |" in out
    row = next(line for line in out.splitlines() if line.startswith("| srcnn | torch-cuda-fp32 |"))
    assert row.count(" / ") == 2 and row.endswith("| yes |")
    if not torch.cuda.is_available():
        assert "| srcnn | tensorrt-fp16 | - | skipped: " in out


def test_reduced_precision_runners_leave_the_callers_module_alone():
    from srharness.models import build_model
    from srharness.runners.torch_runner import TorchPipeline, TorchRunner
    model = build_model("srcnn", 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    TorchRunner(model, precision="fp16", channels_last=True).run(np.ones((1, 1, 8, 8), np.float32))
    TorchPipeline(model, (1, 1, 8, 8), 1.0, GpuOptions(precision="bf16"), device="cpu").build()
    for k, v in model.state_dict().items():
        assert v.dtype == torch.float32 and torch.equal(v, before[k]), k


def test_deployed_pipeline_is_a_runner(tmp_path):
    """A timed backend deployed (its device pipeline, here the CPU twin): a Runner whose run(x) is
    the module's output."""
    from srharness.deploy import deploy, make_input
    from srharness.models import build_model
    from srharness.runners.base import Runner
    from srharness.runners.torch_runner import TorchRunner
    pipe = deploy("srcnn", 2, backend="torch-cuda", timing=GpuOptions(), shape=(16, 16), device="cpu",
                  workdir=tmp_path, build=False).runner
    assert isinstance(pipe, Runner)
    x = make_input("srcnn", (16, 16))
    np.testing.assert_allclose(pipe.run(x), TorchRunner(build_model("srcnn", 2)).run(x), atol=1e-5)
    assert pipe.describe().precision == "fp32"


# the variants as they were named before they joined the one backend table (srharness.backends)
_CL16 = dict(precision="fp16", channels_last=True)
_IO = dict(uint8_io=True, pinned=True)
EXPECTED_VARIANTS = {
    "torch-cuda-fp32": ("torch-cuda", GpuOptions()),
    "torch-cuda-fp16": ("torch-cuda", GpuOptions(precision="fp16")),
    "torch-cuda-fp16-cl": ("torch-cuda", GpuOptions(**_CL16)),
    "torch-cuda-fp16-cl-graphs": ("torch-cuda", GpuOptions(**_CL16, cuda_graphs=True)),
    "torch-cuda-fp16-cl-graphs-u8-pinned": ("torch-cuda", GpuOptions(**_CL16, cuda_graphs=True, **_IO)),
    "torch-cuda-fp16-compile-graphs-u8-pinned": ("torch-cuda", GpuOptions(
        **_CL16, cuda_graphs=True, compile="max-autotune-no-cudagraphs", **_IO)),
    "ort-cuda-fp16": ("ort-cuda", GpuOptions(precision="fp16", **_IO)),
    "ort-trt-fp16": ("ort-trt", GpuOptions(precision="fp16", **_IO)),
    "tensorrt-fp16": ("tensorrt", GpuOptions(precision="fp16", **_IO)),
}


def test_timing_variants_are_backends_of_the_one_factory():
    """One backend name table: every name GPU timing takes (bench --backend / --variants, the cuda
    suites) is a registered backend whose `timing` says its pipeline and options; the variants and
    their options are the ones the GPU figures were always timed with."""
    from srharness.backends import BACKENDS, get_backend, gpu_options, timed_backends, timing_variants
    assert timing_variants() == list(EXPECTED_VARIANTS)
    for name, (family, options) in EXPECTED_VARIANTS.items():
        b = get_backend(name)
        assert (b.hardware, b.timing.family, gpu_options(name)) == ("cuda", family, options), name
        assert b.precision == options.precision and name in BACKENDS
    assert [n for n in timing_variants() if get_backend(n).timing.slow] == ["torch-cuda-fp16-compile-graphs-u8-pinned"]
    assert set(timed_backends()) == set(EXPECTED_VARIANTS) | {"torch-cuda", "torch-cuda-bf16", "ort-cuda", "ort-trt",
                                                               "tensorrt", "tensorrt-fp32"}
    assert gpu_options("torch-cuda", "bf16", channels_last=True) == GpuOptions(precision="bf16", channels_last=True)


def test_a_timing_variant_runs_as_its_device_pipeline(tmp_path):
    """As a runner (build_runner, eval), a variant is its device pipeline: here the ONNX
    family's CPU twin with uint8 I/O, deployed at a shape, agreeing with torch."""
    from srharness.deploy import deploy, make_input
    from srharness.runners.device import DevicePipeline
    from srharness.runners.ort_gpu import OrtGpuPipeline
    d = deploy("srcnn", 2, backend="ort-cuda-fp16", timing=True, shape=(16, 16), device="cpu", workdir=tmp_path,
               build=False)
    assert isinstance(d.runner, OrtGpuPipeline) and d.runner.options == EXPECTED_VARIANTS["ort-cuda-fp16"][1]
    assert d.export is not None and d.runner.input_shape == (1, 1, 16, 16)
    fig = pg.measure_pipeline(d.runner, GpuPerfConfig(**QUICK), caching=False)
    assert fig.passed and fig.conditions["input_dtype"] == "uint8"
    from srharness.backends import build_runner
    if not torch.cuda.is_available():
        with pytest.raises(Exception, match="NVIDIA GPU|CUDAExecutionProvider"):
            build_runner("ort-cuda-fp16", model="srcnn", onnx=d.onnx, input_shape=(1, 1, 16, 16),
                         workdir=tmp_path).run(make_input("srcnn", (16, 16)))
    assert isinstance(build_runner("torch-cuda-fp16-cl", model="srcnn", input_shape=(1, 1, 16, 16)), DevicePipeline)
