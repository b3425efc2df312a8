"""export_onnx: the truth read back from the file, atomic writes, both exporters."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from srharness.export import ExportError, check_graph, export_onnx, graph_opset, rewrite_depth_to_space
from srharness.models import build_model


def test_legacy_opset_9_pixel_shuffle_is_reshape_transpose(tmp_path):
    r = export_onnx("rcan-sr4k-lite", tmp_path / "a.onnx", opset=9)
    assert (r.opset, r.requested_opset, r.exporter) == (9, 9, "legacy")
    assert "DepthToSpace" not in r.op_census and r.op_census["Transpose"] == 1
    assert graph_opset(onnx.load(str(r.path))) == 9


def test_legacy_opset_13_emits_depth_to_space(tmp_path):
    r = export_onnx("rcan-sr4k-lite", tmp_path / "b.onnx", opset=13)
    assert r.opset == 13 and r.op_census["DepthToSpace"] == 1 and r.has_depth_to_space
    proto = onnx.load(str(r.path))
    attrs = {a.name: onnx.helper.get_attribute_value(a) for n in proto.graph.node if n.op_type == "DepthToSpace"
             for a in n.attribute}
    assert attrs["mode"] == b"CRD" and attrs["blocksize"] == 4  # SR4K: stride-2 head, x4 shuffle


def test_dynamo_ignores_the_opset_asked_for(tmp_path):
    r = export_onnx("rcan-sr4k-lite", tmp_path / "c.onnx", opset=9, exporter="dynamo")
    assert r.requested_opset == 9 and r.opset == 18 and r.has_depth_to_space
    assert check_graph(onnx.load(str(r.path)), opset=9) == ["opset is 18, expected 9", "1 DepthToSpace node(s)"]


def test_rewritten_dynamo_export_equals_torch(tmp_path):
    model = build_model("rcan-sr4k-lite", 2)
    r = export_onnx("rcan-sr4k-lite", tmp_path / "d.onnx", exporter="dynamo", rewrite=True)
    assert not r.has_depth_to_space and r.rewritten_depth_to_space == 1
    x = (np.random.default_rng(1).random((1, 3, 32, 32)) * 255).astype(np.float32)
    got = ort.InferenceSession(str(r.path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    assert np.abs(got - want).max() / 255 < 1e-4


def test_module_export_and_names(tmp_path):
    net = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2))
    r = export_onnx(net, tmp_path / "m.onnx", opset=11, shape=(5, 7), input_name="lr", output_name="sr")
    assert r.inputs == [("lr", [1, 3, 5, 7])] and r.outputs == [("sr", [1, 3, 10, 14])]
    assert r.model is None and r.op_census["DepthToSpace"] == 1


def test_dynamic_axes_are_named(tmp_path):
    r = export_onnx("srcnn", tmp_path / "s.onnx", dynamic=True)
    assert r.inputs == [("input.1", ["batch", 1, "height", "width"])] and r.dynamic


class Broken(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom")


def test_failed_export_leaves_nothing_behind(tmp_path):
    with pytest.raises(ExportError, match="legacy export at opset 9 failed: RuntimeError: boom"):
        export_onnx(Broken(), tmp_path / "x.onnx", opset=9, shape=(4, 4))
    assert list(tmp_path.iterdir()) == []


def test_existing_file_is_replaced_whole(tmp_path):
    out = tmp_path / "s.onnx"
    out.write_bytes(b"old")
    export_onnx("srcnn", out)
    assert graph_opset(onnx.load(str(out))) == 9 and [p.name for p in tmp_path.iterdir()] == ["s.onnx"]


@pytest.mark.parametrize("kwargs,message", [
    (dict(exporter="tensorrt"), "unknown exporter"),
    (dict(shape=(15, 16)), "multiples of 2"),
])
def test_bad_requests(tmp_path, kwargs, message):
    with pytest.raises(ExportError, match=message):
        export_onnx("rcan-sr4k", tmp_path / "x.onnx", **kwargs)


def test_rewrite_is_a_no_op_without_depth_to_space(tmp_path):
    proto = onnx.load(str(export_onnx("srcnn", tmp_path / "s.onnx").path))
    before = proto.SerializeToString()
    assert rewrite_depth_to_space(proto).SerializeToString() == before
