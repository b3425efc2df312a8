"""DepthToSpace -> Reshape/Transpose/Reshape is exact, for both modes, static and dynamic shapes."""
import numpy as np
import onnx
import onnxruntime as ort
from hypothesis import HealthCheck, given, settings, strategies as st
from onnx import TensorProto, helper

from srharness.export import check_graph, op_census, rewrite_depth_to_space


def depth_to_space_model(channels: int, block: int, h: int, w: int, mode: str, dynamic: bool) -> onnx.ModelProto:
    in_dims = ["n", channels, "h", "w"] if dynamic else [1, channels, h, w]
    out_dims = ["n", channels // block**2, "hb", "wb"] if dynamic else [1, channels // block**2, h * block, w * block]
    node = helper.make_node("DepthToSpace", ["x"], ["y"], blocksize=block, mode=mode, name="d2s")
    graph = helper.make_graph([node], "d2s", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_dims)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_dims)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(out_channels=st.integers(1, 4), block=st.integers(2, 4), h=st.integers(1, 7), w=st.integers(1, 7),
       mode=st.sampled_from(["DCR", "CRD"]), dynamic=st.booleans(), batch=st.integers(1, 2))
def test_rewrite_is_exact(out_channels, block, h, w, mode, dynamic, batch):
    if not dynamic:
        batch = 1
    model = depth_to_space_model(out_channels * block**2, block, h, w, mode, dynamic)
    x = np.random.default_rng(0).standard_normal((batch, out_channels * block**2, h, w)).astype(np.float32)
    expected = run(model, x)
    rewritten = rewrite_depth_to_space(model)
    onnx.checker.check_model(rewritten, full_check=True)
    census = op_census(rewritten)
    assert "DepthToSpace" not in census and census["Transpose"] == 1 and census["Reshape"] == 2
    np.testing.assert_array_equal(run(rewritten, x), expected)  # pure data movement: bit-exact


def test_modes_differ_so_the_test_can_tell_them_apart():
    x = np.arange(1 * 8 * 1 * 1, dtype=np.float32).reshape(1, 8, 1, 1)
    dcr = run(depth_to_space_model(8, 2, 1, 1, "DCR", False), x)
    crd = run(depth_to_space_model(8, 2, 1, 1, "CRD", False), x)
    assert not np.array_equal(dcr, crd)


def test_static_rewrite_uses_constant_shapes_only():
    model = rewrite_depth_to_space(depth_to_space_model(12, 2, 5, 6, "CRD", dynamic=False))
    assert set(op_census(model)) == {"Reshape", "Transpose"}


def test_check_graph_reports_opset_and_forbidden_ops():
    model = depth_to_space_model(4, 2, 2, 2, "CRD", False)
    assert check_graph(model, opset=9) == ["opset is 13, expected 9", "1 DepthToSpace node(s)"]
    assert check_graph(rewrite_depth_to_space(model), opset=13) == []
