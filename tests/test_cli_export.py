"""`srharness export` and `srharness doctor` through the real console entry point."""
import json

import onnx
import pytest

from srharness.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_export_json_reports_what_the_file_holds(tmp_path, capsys):
    out_path = tmp_path / "sr4k.onnx"
    code, out, _ = run_cli(capsys, "export", "rcan-sr4k-lite", "--scale", "2", "--opset", "9", "--shape", "32x48",
                           "-o", str(out_path), "--json")
    assert code == 0
    info = json.loads(out)
    assert info["opset"] == 9 and info["requested_opset"] == 9 and info["depth_to_space"] is False
    assert info["inputs"] == [{"name": "input", "shape": [1, 3, 32, 48]}]
    assert info["outputs"] == [{"name": "output", "shape": [1, 3, 64, 96]}]
    model = onnx.load(str(out_path))
    # 2 MeanShift + head + 2 groups x (2 RCAB x 2 + 1) + body conv + 2 tail convs
    assert info["op_census"]["Conv"] == sum(n.op_type == "Conv" for n in model.graph.node) == 16
    assert [p.name for p in tmp_path.iterdir()] == ["sr4k.onnx"], "temporary files left behind"


def test_export_opset_13_reports_depth_to_space_and_human_output(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "export", "rcan-sr4k-lite", "--opset", "13", "-o", str(tmp_path / "m.onnx"))
    assert code == 0
    assert "opset     13" in out and "DepthToSpace 1" in out and "note      DepthToSpace present" in out


def test_dynamo_exporter_is_reported_truthfully_and_rewritten(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "export", "rcan-sr4k-lite", "--exporter", "dynamo", "--opset", "9",
                           "--rewrite-depth-to-space", "-o", str(tmp_path / "d.onnx"), "--json")
    info = json.loads(out)
    assert code == 0 and info["requested_opset"] == 9 and info["opset"] == 18
    assert info["depth_to_space"] is False and info["rewritten_depth_to_space"] == 1


def test_dynamic_axes(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "export", "srcnn", "--dynamic", "-o", str(tmp_path / "s.onnx"), "--json")
    assert code == 0
    assert json.loads(out)["inputs"] == [{"name": "input.1", "shape": ["batch", 1, "height", "width"]}]


@pytest.mark.parametrize("argv,message", [
    (["export", "srgan", "-o", "x.onnx"], "unknown model 'srgan'"),
    (["export", "rcan-sr4k", "--scale", "3", "-o", "x.onnx"], "not x3"),
    (["export", "rcan-sr4k", "--shape", "31x32", "-o", "x.onnx"], "multiples of 2"),
    (["export", "srcnn", "--weights", "missing.pth", "-o", "x.onnx"], "missing.pth: no such checkpoint"),
])
def test_user_errors_are_one_line_exit_2(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "x.onnx").exists()


def test_bad_shape_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        main(["export", "srcnn", "--shape", "big", "-o", "x.onnx"])


def test_weights_are_loaded_strictly(tmp_path, capsys):
    import torch
    from srharness.models import build_model
    torch.save(build_model("srcnn", 2, seed=5).state_dict(), tmp_path / "s.pth")
    code, out, _ = run_cli(capsys, "export", "srcnn", "--weights", str(tmp_path / "s.pth"), "-o",
                           str(tmp_path / "s.onnx"), "--json")
    assert code == 0
    torch.save(build_model("vdsr", 2).state_dict(), tmp_path / "v.pth")
    code, _, err = run_cli(capsys, "export", "srcnn", "--weights", str(tmp_path / "v.pth"), "-o",
                           str(tmp_path / "s2.onnx"))
    assert code == 2 and "missing keys: conv1.bias" in err


def test_doctor_json(capsys):
    code, out, _ = run_cli(capsys, "doctor", "--json")
    info = json.loads(out)
    assert code == 0
    assert set(info["hardware"]) == {"cpu", "cuda", "ascend", "vacc"} and info["hardware"]["cpu"]["present"]
    assert info["libraries"]["torch"].startswith("2.") and "CPUExecutionProvider" in info["onnxruntime_providers"]
    assert "atc" in info["tools"] and "vamp" in info["tools"]


def test_export_says_which_weights(tmp_path, capsys, monkeypatch):
    """--weights auto finds the model's checkpoint in the weights dir and names it; no weights is
    said to be the random init, in the text and in --json."""
    import torch

    from srharness.models import build_model
    monkeypatch.delenv("SRHARNESS_DATA_DIR", raising=False)
    monkeypatch.delenv("SRHARNESS_WEIGHTS_DIR", raising=False)
    code, out, _ = run_cli(capsys, "export", "srcnn", "-o", str(tmp_path / "r.onnx"))
    assert code == 0 and "random init" in out
    code, out, _ = run_cli(capsys, "export", "srcnn", "-o", str(tmp_path / "r.onnx"), "--json")
    assert json.loads(out)["weights"] == "random init (seed 0)"
    code, _, err = run_cli(capsys, "export", "srcnn", "--weights", "auto", "-o", str(tmp_path / "a.onnx"))
    assert code == 2 and "--weights-dir" in err and not (tmp_path / "a.onnx").exists()
    ckpt = tmp_path / "w" / "srcnn" / "srcnn_x2.pth"
    ckpt.parent.mkdir(parents=True)
    torch.save(build_model("srcnn", 2).state_dict(), ckpt)
    monkeypatch.setenv("SRHARNESS_WEIGHTS_DIR", str(tmp_path / "w"))
    code, out, _ = run_cli(capsys, "export", "srcnn", "--weights", "auto", "-o", str(tmp_path / "a.onnx"), "--json")
    assert code == 0 and json.loads(out)["weights"] == str(ckpt)
    code, out, _ = run_cli(capsys, "export", "srcnn", "--weights", "auto", "-o", str(tmp_path / "a.onnx"))
    assert f"weights   {ckpt}" in out
