"""fp16 and int8 variants: real onnxruntime conversions on a small SRCNN, compared with fp32."""
import numpy as np
import onnx
import pytest

from srharness import metrics, quantize
from srharness.export import export_onnx
from srharness.runners.ort_runner import OrtRunner
from srharness.runners.torch_runner import TorchRunner
from srharness.models import build_model


@pytest.fixture(scope="module")
def fp32(tmp_path_factory):
    out = tmp_path_factory.mktemp("q") / "srcnn.onnx"
    export_onnx("srcnn", out, scale=2, opset=13, shape=(24, 24))
    return out


@pytest.fixture(scope="module")
def inputs():
    from srharness.data.colour import matlab_y
    from srharness.data.datasets import load_dataset
    out = []
    for s in load_dataset("embedded").subset(["astronaut", "coffee"]):
        y = matlab_y(s.hr()[100:124, 100:124]) / 255.0
        out.append(y[None, None].astype(np.float32))
    return out


def _psnr_vs(a, b):
    return metrics.psnr(a[0, 0], b[0, 0], data_range=1.0)


def test_fp16_keeps_float32_io(fp32, inputs):
    path = quantize.to_fp16(fp32)
    model = onnx.load(str(path))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    ref, half = OrtRunner(fp32), OrtRunner(path, backend_name="ort-fp16", precision="fp16")
    assert _psnr_vs(half.run(inputs[0]), ref.run(inputs[0])) > 60
    assert quantize.to_fp16(fp32) == path            # cached


@pytest.mark.parametrize("mode", ["max", "kl_divergence"])
def test_int8_is_qdq_and_close(fp32, inputs, mode, tmp_path):
    path = quantize.to_int8(fp32, inputs, mode, out_path=tmp_path / f"{mode}.onnx")
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    ref, q = OrtRunner(fp32), OrtRunner(path, backend_name="ort-int8", precision="int8")
    assert 25 < _psnr_vs(q.run(inputs[1]), ref.run(inputs[1])) < 120   # quantised: close, not identical


def test_entropy_differs_from_minmax(fp32, inputs, tmp_path):
    """onnxruntime's default histogram makes Entropy equal MinMax; ours must not."""
    def scales(p):
        g = onnx.load(str(p)).graph
        return {i.name: float(onnx.numpy_helper.to_array(i).reshape(-1)[0]) for i in g.initializer
                if i.name.endswith("_scale") and onnx.numpy_helper.to_array(i).size == 1}
    a = scales(quantize.to_int8(fp32, inputs, "max", out_path=tmp_path / "a.onnx"))
    b = scales(quantize.to_int8(fp32, inputs, "kl_divergence", out_path=tmp_path / "b.onnx"))
    assert a.keys() == b.keys() and any(abs(a[k] - b[k]) > 1e-9 for k in a)


def test_errors(fp32, inputs):
    with pytest.raises(quantize.QuantizeError, match="vamc modes"):
        quantize.to_int8(fp32, inputs, "mse")
    with pytest.raises(quantize.QuantizeError, match="at least one"):
        quantize.to_int8(fp32, [], "max")


def test_runners_agree(fp32, inputs):
    torch_out = TorchRunner(build_model("srcnn", 2)).run(inputs[0])
    ort = OrtRunner(fp32)
    assert np.abs(ort.run(inputs[0]) - torch_out).max() < 1e-5
    info = ort.describe()
    assert info.backend == "ort" and info.output_shape == (1, 1, 24, 24)
    with pytest.raises(FileNotFoundError, match="export it first"):
        OrtRunner(fp32.with_name("missing.onnx")).build()
