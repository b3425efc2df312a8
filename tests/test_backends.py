"""The one backend factory: every backend name the CLI, the checks and bench use is registered
once, with its hardware, precision and needs; builders pass extra options to the runner."""
import numpy as np
import pytest

from srharness.backends import BACKENDS, BackendUnavailable, backend_names, build_runner, get_backend
from srharness.models import get_model_spec


def test_every_backend_name_is_registered_once_with_what_it_needs():
    expected = {"torch": ("cpu", "fp32"), "ort": ("cpu", "fp32"), "ort-fp16": ("cpu", "fp16"),
                "ort-int8-minmax": ("cpu", "int8"), "ort-int8-entropy": ("cpu", "int8"),
                "torch-cuda": ("cuda", "fp32"), "torch-cuda-fp16": ("cuda", "fp16"), "ort-cuda": ("cuda", "fp32"),
                "tensorrt": ("cuda", "fp16"), "ascend-om": ("ascend", "fp16"), "vacc-fp16": ("vacc", "fp16"),
                "vacc-int8-kl": ("vacc", "int8")}
    for name, (hw, precision) in expected.items():
        b = get_backend(name)
        assert (b.hardware, b.precision) == (hw, precision), name
    assert get_backend("ort-int8-entropy").needs == ("onnx", "calibration")
    assert get_backend("vacc-fp16").needs == ("onnx", "input_shape", "workdir")
    assert set(backend_names("cpu")) >= {"torch", "ort", "ort-fp16", "ort-int8", "ort-int8-minmax", "ort-int8-entropy"}
    from srharness import perf_targets
    assert perf_targets.CPU_BACKENDS == tuple(backend_names("cpu"))
    with pytest.raises(KeyError, match="unknown backend 'ort-int9'"):
        get_backend("ort-int9")


def test_cpu_variants_agree_with_torch(tmp_path):
    from srharness.export import export_onnx
    spec = get_model_spec("srcnn")
    onnx = export_onnx("srcnn", tmp_path / "srcnn.onnx", opset=13).path
    x = np.random.default_rng(0).random((1, 1, 32, 32), dtype=np.float32)
    ref = build_runner("torch", spec=spec).run(x)
    for name, bound in (("ort", 1e-5), ("ort-fp16", 1e-2), ("ort-int8-minmax", 0.1)):
        runner = build_runner(name, spec=spec, onnx=onnx, calibration=[x], workdir=tmp_path)
        assert runner.backend == name and runner.precision == get_backend(name).precision
        assert np.abs(runner.run(x) - ref).max() < bound, name


def test_missing_needs_and_absent_hardware_are_reasons_not_tracebacks(tmp_path):
    with pytest.raises(BackendUnavailable, match="needs calibration"):
        build_runner("ort-int8-entropy", model="srcnn", onnx=tmp_path / "x.onnx")
    with pytest.raises(BackendUnavailable, match="needs onnx, input_shape, workdir"):
        build_runner("vacc-fp16", model="vdsr")
    import onnxruntime
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(BackendUnavailable, match="no CUDAExecutionProvider"):   # never a silent CPU run
            build_runner("ort-cuda", model="srcnn", onnx=tmp_path / "x.onnx")
    import torch
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailable):
            build_runner("torch-cuda", model="srcnn").run(np.zeros((1, 1, 8, 8), np.float32))


def test_card_builders_take_the_spec_facts(tmp_path):
    """vacc builds get the input range, output shape and vamc graph partition from the spec."""
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"")
    x = np.zeros((1, 3, 16, 16), np.float32)
    runner = build_runner("vacc-int8-kl", model="rcan-sr4k-lite", onnx=onnx, input_shape=(1, 3, 16, 16),
                          workdir=tmp_path, calibration=[x])
    assert runner.output_shape == (1, 3, 32, 32) and runner.input_range == 255.0
    assert runner.graph_partition is True and runner.calibrate_mode == "kl_divergence"
    vdsr = build_runner("vacc-fp16", model="vdsr", onnx=onnx, input_shape=(1, 1, 16, 16), workdir=tmp_path)
    assert vdsr.graph_partition is False and vdsr.output_shape == (1, 1, 16, 16)
    om = build_runner("ascend-om", model="rdn", onnx=onnx, input_shape=(1, 3, 16, 16), workdir=tmp_path,
                      precision_mode="allow_fp32_to_fp16")
    assert om.input_name == "image" and om.output_shape == (1, 3, 32, 32)


def test_a_user_backend_registers_through_the_public_call(monkeypatch):
    from srharness.registry import register_backend
    from srharness.runners.torch_runner import TorchRunner
    monkeypatch.delitem(BACKENDS, "torch-half-cpu", raising=False)

    def build(*, spec=None, scale=2, module=None, **options):
        from srharness.models import build_model
        return TorchRunner(module or build_model(spec.name, scale), precision="bf16")
    register_backend("torch-half-cpu", build, hardware="cpu", precision="bf16", needs=("torch",))
    try:
        assert "torch-half-cpu" in backend_names("cpu")
        out = build_runner("torch-half-cpu", model="srcnn").run(np.zeros((1, 1, 8, 8), np.float32))
        assert out.shape == (1, 1, 8, 8)
    finally:
        del BACKENDS["torch-half-cpu"]
