"""Checks for the accelerator suites (suites/<model>/test_ascend.py, test_vacc.py, test_cuda.py).

Each class compiles the model with the card's real tool, runs it the way the guide does, compares
its outputs with torch's on the same inputs (the weights are random unless the user supplies
checkpoints, so agreement with torch is the weight-independent accuracy check, against the floors
of srharness/tolerances.yaml), and judges the tool's own timing against the floors in golden/.
Task accuracy on the card (the guide's protocol, dataset and weights, judged against the guide's
own card figure) is each figure's item in suites/<model>/test_figures.py (srharness.figures):
`pytest -m vacc suites/vdsr` selects both.

Shapes: the guide's input shape by default. SRHARNESS_HW_SHAPE=test (or HxW) compiles at the
model's small test shape instead: the fake tools of fixtures/fake_tools compute outputs with
onnxruntime on the host, where RDN at 114x114 takes ~30 s per image; their timing is a replay
of the guides' logs either way. The shape used is recorded with every figure.
"""
from __future__ import annotations


import numpy as np
import pytest

from srharness import report, settings
from srharness.perf import device_lock
from srharness.records import Verdict
from srharness.tolerances import tolerance
from srharness.checks import ModelChecks

SHAPE_ENV = "SRHARNESS_HW_SHAPE"
# Agreement floor between a compiled model and torch fp32 on the same input, in dB over the
# model's input range, and its statistic: data with its rule and rationale in srharness/tolerances.yaml.
AGREEMENT = tolerance("agreement")
MIN_AGREEMENT_PSNR_DB = dict(AGREEMENT.values)
DATASET_SIZE = 5   # as Set5: the guides time the whole dataset run


def hw_shape(model: str) -> tuple[int, int]:
    from srharness.models import get_model_spec
    spec = get_model_spec(model)
    value = settings.env(SHAPE_ENV, "guide").strip().lower()
    if value == "guide":
        return tuple(spec.guide_input_shape[2:])
    if value == "test":
        return tuple(spec.test_shape)
    return check_shape_env()


def check_shape_env() -> tuple[int, int] | None:
    """The HxW of SRHARNESS_HW_SHAPE (None for guide/test); the plugin calls this at configure time,
    so a bad value (`bad`, `0x0`, `100000x100000`) stops the session with one line, not a fixture."""
    import argparse

    from srharness.cli.args import shape
    value = settings.env(SHAPE_ENV, "guide").strip().lower()
    if value in ("guide", "test"):
        return None
    try:
        return shape(value)
    except argparse.ArgumentTypeError as exc:
        raise pytest.UsageError(f"{SHAPE_ENV}={value!r}: {exc}; use guide, test or HxW") from None


def _inputs(model: str, shape: tuple[int, int], n: int) -> list[np.ndarray]:
    from srharness.deploy import make_input
    return [make_input(model, shape, 1, seed=i)[0:1] for i in range(n)]


def _torch_outputs(model: str, scale: int, xs: list[np.ndarray]) -> list[np.ndarray]:
    import torch
    from srharness.models import build_model
    m = build_model(model, scale)
    with torch.inference_mode():
        return [m(torch.from_numpy(x)).numpy() for x in xs]


def _t4_baseline(sr_golden_dir, model: str):
    from srharness.golden import load_goldens
    found = load_goldens(sr_golden_dir).select(model=model, metric="fps", hardware="cuda", backend="tensorrt")
    return found[0] if found else None


def _attach_commands(name: str, commands: list[str]) -> None:
    text = "\n".join(commands)
    print(f"{name} command lines:\n{text}")
    report.attach_text(f"{name} command lines", text)


class _CardChecks(ModelChecks):
    @pytest.fixture(scope="class")
    @classmethod
    def hw_case(cls, tmp_path_factory):
        """The model exported at the suite's shape, its dataset of inputs and torch's outputs."""
        import shutil

        from srharness.deploy import default_export_cache, export
        from srharness.models import get_model_spec
        spec = get_model_spec(cls.model)
        shape = hw_shape(cls.model)
        work = tmp_path_factory.mktemp(f"{cls.model}-{cls.__name__}")
        # made by the one export path (srharness.deploy), copied to the guides' file name (rdn_x2.onnx,
        # srcnn_x2.onnx): the om / engine names follow it
        exported = export(spec, cls.scale, shape=shape, cache_dir=default_export_cache(work))
        onnx = work / f"{cls.model.replace('-', '_')}_x{cls.scale}.onnx"
        shutil.copyfile(exported.path, onnx)
        xs = _inputs(cls.model, shape, DATASET_SIZE)
        return {"spec": spec, "shape": shape, "work": work, "onnx": onnx, "inputs": xs,
                "torch": _torch_outputs(cls.model, cls.scale, xs),
                "guide_shape": tuple(spec.guide_input_shape[2:]) == shape}

    def _conditions(self, case, runner, **extra):
        info = runner.describe()
        return {"shape": [1, case["spec"].in_channels, *case["shape"]], "guide_shape": case["guide_shape"],
                "batch": 1, "images": len(case["inputs"]), **{k: v for k, v in info.details.items() if k != "logs"},
                **extra}

    def _record_agreement(self, sr_record, case, runner, outs):
        precision = runner.precision
        value = AGREEMENT.measure(outs, case["torch"], case["spec"].input_range)
        # Ascend's force_fp32 keeps fp16 inputs for cube ops ("fp32-cube-fp16"): the fp16 floor applies
        floor_precision = precision if precision in MIN_AGREEMENT_PSNR_DB else "fp16"
        floor = MIN_AGREEMENT_PSNR_DB[floor_precision]
        passed = value >= floor
        sr_record(Verdict(model=self.model, check="accuracy", metric="psnr_vs_torch", measured=value,
                          hardware=runner.hardware, backend=runner.backend, precision=precision, scale=self.scale,
                          golden=floor, rule=f"{AGREEMENT.describe(floor_precision)} against torch fp32",
                          passed=passed, unit="dB", conditions=self._conditions(case, runner),
                          notes="random-init weights: agreement with torch on the same inputs"))
        assert passed, f"{self.model} {runner.backend} {precision}: {value:.2f} dB against torch, below {floor:g} dB"


class AscendChecks(_CardChecks):
    """SRCNN and RDN on an Ascend 310 (seeds 001, 002): atc, benchmark, card fps > T4 fps."""
    pytestmark = [pytest.mark.ascend]
    precision_mode: str | None = None     # atc's default unless a suite sets one

    @pytest.fixture(scope="class")
    @classmethod
    def ascend_run(cls, hw_case):
        from srharness.runners.ascend import AscendRunner
        spec = hw_case["spec"]
        n, c = 1, spec.in_channels
        h, w = hw_case["shape"]
        oh, ow = spec.output_shape(cls.scale, h, w)
        runner = AscendRunner(hw_case["onnx"], input_name=spec.guide_input_name, input_shape=(n, c, h, w),
                              output_shape=(n, c, oh, ow), workdir=hw_case["work"] / "ascend",
                              precision_mode=cls.precision_mode)
        # The guides time the whole-dataset run, so it holds the device exclusively.
        with device_lock(f"ascend:{runner.device_id}"):
            outs = runner.run_files(hw_case["inputs"], [f"img{i}" for i in range(len(hw_case["inputs"]))])
        _attach_commands(f"{cls.model} ascend", runner.commands)
        return runner, outs

    def test_om_matches_torch(self, hw_case, ascend_run, sr_record):
        runner, outs = ascend_run
        self._record_agreement(sr_record, hw_case, runner, outs)

    def test_card_fps_exceeds_t4(self, hw_case, ascend_run, sr_record, sr_golden_dir):
        from srharness.perf import per_card
        runner, _ = ascend_run
        baseline = _t4_baseline(sr_golden_dir, self.model)
        if runner.last_perf is None:
            pytest.skip("the ais_bench API run gives no benchmark perf file; time with the benchmark binary")
        devices = 4   # an Ascend 310 card holds 4 devices (the guides' x4)
        device_fps = runner.last_perf.interface_throughput
        card_fps = per_card(device_fps, devices)
        cond = self._conditions(hw_case, runner, devices_per_card=devices, figure="[infer] Interface throughputRate",
                                perf_file=runner.last_perf.source)
        sr_record(Verdict(model=self.model, check="perf", metric="fps", measured=device_fps, hardware="ascend",
                          backend=runner.backend, precision=runner.precision, scale=self.scale, unit="fps",
                          conditions=cond, notes="per device"))
        if baseline is None:
            pytest.skip(f"no T4 baseline golden for {self.model} (metric fps, hardware cuda, backend tensorrt)")
        result = baseline.judge(card_fps)
        sr_record(Verdict(model=self.model, check="perf", metric="fps", measured=card_fps, hardware="ascend",
                          backend=runner.backend, precision=runner.precision, scale=self.scale, unit="fps",
                          golden=baseline.value, golden_id=baseline.id, rule=result.rule_text, better=baseline.rule.better,
                          passed=result.passed,
                          conditions=cond, notes=f"card = {device_fps} x {devices} devices; {result.text}"))
        assert result.passed, f"{self.model}: 310 card {card_fps:.3f} fps does not exceed T4 {baseline.value} fps"


class VaccChecks(_CardChecks):
    """VDSR and RCAN SR4K on a VastAI card (seeds 000, 004): vamc, vamp accuracy and perf runs."""
    pytestmark = [pytest.mark.vacc]
    dtype: str = "fp16"
    calibrate_mode: str = "max"
    instances: int = 1            # vamp -i / -p of the guide's perf run
    perf_golden: str | None = None

    @pytest.fixture(scope="class")
    @classmethod
    def vacc_run(cls, hw_case):
        from srharness.runners.vacc import VaccRunner, to_uint8
        spec = hw_case["spec"]
        h, w = hw_case["shape"]
        oh, ow = spec.output_shape(cls.scale, h, w)
        c = spec.in_channels
        # Calibration set: the suite's own inputs as uint8 HWC images.
        calib = [to_uint8(x[0], spec.input_range).transpose(1, 2, 0).squeeze() for x in hw_case["inputs"]]
        runner = VaccRunner(hw_case["onnx"], name=f"{cls.model}-{cls.dtype}-{h}x{w}", input_shape=(1, c, h, w),
                            output_shape=(1, c, oh, ow), workdir=hw_case["work"] / "vacc",
                            input_range=spec.input_range, dtype=cls.dtype, calibrate_mode=cls.calibrate_mode,
                            calibration_images=calib, graph_partition=cls.model.startswith("rcan"))
        # The torch reference sees the same uint8-rounded pixels vamp gets.
        quantized = [to_uint8(x, spec.input_range).astype(np.float32) * (spec.input_range / 255.0)
                     for x in hw_case["inputs"]]
        outs = runner.run_files(quantized, [f"img{i}" for i in range(len(quantized))])
        refs = _torch_outputs(cls.model, cls.scale, quantized)
        _attach_commands(f"{cls.model} vacc", runner.commands)
        return runner, outs, refs

    def test_vacc_matches_torch(self, hw_case, vacc_run, sr_record):
        runner, outs, refs = vacc_run
        self._record_agreement(sr_record, {**hw_case, "torch": refs}, runner, outs)

    def test_vamp_perf(self, hw_case, vacc_run, sr_record, sr_golden_dir):
        from srharness.golden import load_goldens
        runner, _, _ = vacc_run
        with device_lock("vacc:0"):
            perf = runner.perf(instances=self.instances, processes=self.instances)
        _attach_commands(f"{self.model} vamp perf", runner.commands[-1:])
        report.attach_json(f"{self.model} vamp perf", perf.to_dict())
        cond = self._conditions(hw_case, runner, instances=self.instances, e2e_latency_us=perf.e2e_latency_us,
                                model_latency_us=perf.model_latency_us, ai_utilize_pct=perf.ai_utilize_pct,
                                card_power_w=perf.card_power_w)
        golden = load_goldens(sr_golden_dir).get(self.perf_golden) if self.perf_golden else None
        result = golden.judge(perf.throughput_qps) if golden else None
        sr_record(Verdict(model=self.model, check="perf", metric="fps", measured=perf.throughput_qps, hardware="vacc",
                          backend="vacc", precision=runner.precision, scale=self.scale, unit="fps", conditions=cond,
                          golden=golden.value if golden else None, golden_id=golden.id if golden else None,
                          rule=result.rule_text if result else None, passed=result.passed if result else None,
                          notes="vamp throughput (qps) at batch 1" + (f"; {result.text}" if result else "")))
        if result is not None:
            assert result.passed, f"{self.model}: vamp {perf.throughput_qps} qps vs {golden.id}: {result.text}"


class CudaChecks(_CardChecks):
    """Every model on an NVIDIA GPU: TensorRT through trtexec (the guides' T4 baseline tool) and
    torch fp16 on CUDA. The GPU figures are recorded next to the guides' T4 baselines; the guides
    set no floor for a GPU, so they are not judged."""
    pytestmark = [pytest.mark.cuda]

    @pytest.fixture(scope="class")
    @classmethod
    def trt_run(cls, hw_case):
        import shutil
        from srharness.runners.tensorrt import TensorRTRunner
        if shutil.which("trtexec") is None:
            pytest.skip("trtexec not on PATH (install TensorRT)")
        spec = hw_case["spec"]
        runner = TensorRTRunner(hw_case["onnx"], input_name=spec.guide_input_name,
                                input_shape=(1, spec.in_channels, *hw_case["shape"]),
                                workdir=hw_case["work"] / "tensorrt", precision="fp16")
        with device_lock("cuda:0"):   # the build run is also trtexec's timing run
            outs = [runner.run(x) for x in hw_case["inputs"][:2]]
        _attach_commands(f"{cls.model} trtexec", runner.commands)
        return runner, outs

    def test_tensorrt_matches_torch(self, hw_case, trt_run, sr_record):
        runner, outs = trt_run
        self._record_agreement(sr_record, {**hw_case, "torch": hw_case["torch"][:2]}, runner, outs)

    def test_tensorrt_fps(self, hw_case, trt_run, sr_record, sr_golden_dir):
        runner, _ = trt_run
        perf = runner.build_perf
        fps = perf.fps(1)
        baseline = _t4_baseline(sr_golden_dir, self.model)
        note = f"GPU Compute mean {perf.gpu_compute_ms['mean']} ms"
        if baseline is not None:
            note += f"; guide's T4 fp16 baseline {baseline.value} fps ({baseline.id}), ratio {fps / baseline.value:.3f}"
        sr_record(Verdict(model=self.model, check="perf", metric="fps", measured=fps, hardware="cuda",
                          backend="tensorrt", precision="fp16", scale=self.scale, unit="fps",
                          conditions=self._conditions(hw_case, runner, gpu_compute_ms=perf.gpu_compute_ms),
                          notes=note))

    def test_torch_cuda_fp16_fps(self, hw_case, sr_record):
        import torch
        if not torch.cuda.is_available():
            pytest.skip("torch.cuda is not available (torch built without CUDA or no GPU visible)")
        from srharness.deploy import deploy
        from srharness.perf import PerfConfig, measure
        runner = deploy(self.model, self.scale, backend="torch-cuda-fp16").runner
        x = hw_case["inputs"][0]

        def call():
            runner.run(x)
        with device_lock("cuda:0"):
            result = measure(call, PerfConfig(warmup_iterations=5, min_iterations=50, min_seconds=2.0))
        report.attach_latency_plot(f"{self.model} torch cuda fp16", result.latencies_ms)
        # named for what it is (issue 11): host-timed, float32 copies included; GPU compute is srharness.checks.gpu's
        sr_record(Verdict(model=self.model, check="perf", metric="fps_host_e2e", measured=result.throughput,
                          hardware="cuda", backend="torch-cuda", precision="fp16", scale=self.scale, unit="fps",
                          conditions={**self._conditions(hw_case, runner), **result.summary(),
                                      "device": torch.cuda.get_device_name(0)},
                          notes="host-timed run() including H2D/D2H copies"))
