"""srharness.deploy: the one path from a model to a ready runner, seen from a user's side.

A user model registered from outside through the public API (a plugin file, SRHARNESS_PLUGINS):
changing its `forward` must change what `srharness eval --backend ort`, `bench` and `diagnose`
run (they share the source-keyed export cache, so a stale ONNX file would be reused otherwise).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = '''
import torch
from torch import nn
from srharness.registry import ModelSpec


class Net(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.conv = nn.Conv2d(3, 3 * scale * scale, 3, padding=1)
        self.up = nn.PixelShuffle(scale)

    def forward(self, x):
        return {body}


def srharness_register(api):
    api.register_model(ModelSpec(name="deploy-user", builder=Net, scales=(2,), reference="user model",
                                 in_channels=3, input_range=1.0, upsamples=True, guide_input_shape=(1, 3, 16, 16),
                                 guide_opset=13, guide_protocol="benchmark"{extra}))
'''
PLAIN = "torch.sigmoid(self.up(self.conv(x)))"
HALVED = "torch.sigmoid(self.up(self.conv(x))) * 0.5"


def _cli(tmp_path, *args, plugin_body=PLAIN, extra="", check=True):
    plug = tmp_path / "plug.py"
    plug.write_text(PLUGIN.format(body=plugin_body, extra=extra))
    env = {**os.environ, "SRHARNESS_PLUGINS": str(plug), "SRHARNESS_EXPORT_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("SRHARNESS_DATA_DIR", None)
    p = subprocess.run([sys.executable, "-m", "srharness", *args], capture_output=True, text=True, env=env, check=False,
                       cwd=tmp_path, timeout=600)
    if check:
        assert p.returncode == 0, p.stderr
    return p


EVAL = ("eval", "deploy-user", "--scale", "2", "--dataset", "embedded", "--images", "camera", "--json")


def _psnr(tmp_path, backend, body):
    out = json.loads(_cli(tmp_path, *EVAL, "--backend", backend, "--work-dir", str(tmp_path / "work"),
                          plugin_body=body).stdout)
    return out["mean_psnr"], out


@pytest.mark.slow
def test_changed_forward_is_re_exported_by_eval_bench_and_diagnose(tmp_path):
    # eval --backend ort: after the edit, onnxruntime agrees with torch on the NEW forward
    before, _ = _psnr(tmp_path, "ort", PLAIN)
    after, out = _psnr(tmp_path, "ort", HALVED)
    torch_after, _ = _psnr(tmp_path, "torch", HALVED)
    assert abs(after - before) > 0.5, f"eval --backend ort gave {before} then {after}: the stale export was reused"
    assert after == pytest.approx(torch_after, abs=1e-3)
    assert out["deploy_key"]["onnx"] and out["deploy_key"]["source"]

    # bench: the timed ONNX file is the new forward's (the key is in its name)
    bench = ("bench", "deploy-user", "--backend", "ort", "--shape", "16x16", "--iterations", "2",
             "--min-seconds", "0", "--warmup", "0", "--warmup-seconds", "0", "--workdir", str(tmp_path / "bench"),
             "--json")
    files = [json.loads(_cli(tmp_path, *bench, plugin_body=b).stdout)["conditions"]["onnx_file"]
             for b in (PLAIN, HALVED)]
    assert files[0] != files[1], f"bench timed the same ONNX file {files[0]} after forward changed"

    # diagnose: its fp32 reference graph is the new forward's (export equivalence vs torch fp32)
    diag = ("diagnose", "deploy-user", "--scale", "2", "--backend", "ort-fp16", "--dataset", "embedded",
            "--images", "camera", "--work-dir", str(tmp_path / "work"), "--rule", "agreement:20", "--json")
    for body in (PLAIN, HALVED):
        ref = json.loads(_cli(tmp_path, *diag, plugin_body=body).stdout)["reference"]
        assert ref["vs_torch_max_abs"] < 1e-3, f"diagnose's fp32 graph differs from torch's forward: {ref}"


# ---------------------------------------------------------------- several outputs
class _Progressive:
    """A progressive-upsampling user network: forward returns (x2 logits, x2 image)."""

    @staticmethod
    def build(scale):
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 3 * scale * scale, 3, padding=1)
                self.up = nn.PixelShuffle(scale)

            def forward(self, x):
                y = self.up(self.conv(x))
                return y, torch.sigmoid(y)
        return Net()


def _register_progressive(**extra):
    from srharness.registry import ModelSpec, register_model
    return register_model(ModelSpec(name="progressive-user", builder=_Progressive.build, scales=(2,),
                                    reference="user model", in_channels=3, input_range=1.0, upsamples=True,
                                    guide_input_shape=(1, 3, 16, 16), guide_opset=13, **extra),
                          replace_existing=True)


@pytest.fixture
def progressive(monkeypatch, tmp_path):
    from srharness.models import MODELS
    monkeypatch.setenv("SRHARNESS_EXPORT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SRHARNESS_DATA_DIR", raising=False)
    yield _register_progressive
    if "progressive-user" in MODELS:
        del MODELS["progressive-user"]


def _eval_in_process(capsys, tmp_path, backend):
    from srharness.cli import main
    code = main(["eval", "progressive-user", "--dataset", "embedded", "--images", "camera", "--backend", backend,
                 "--work-dir", str(tmp_path / "w"), "--json"])
    out, err = capsys.readouterr()
    return code, out, err


def test_tuple_output_without_sr_output_is_a_clear_error(progressive, capsys, tmp_path):
    progressive()
    for backend in ("torch", "ort"):
        code, _, err = _eval_in_process(capsys, tmp_path, backend)
        assert code == 2, err
        assert "sr_output" in err and "progressive-user" in err and "Traceback" not in err, err


def test_tuple_output_with_sr_output_gives_the_figure_in_torch_and_ort(progressive, capsys, tmp_path):
    import torch

    from srharness.deploy import load_module
    from srharness.models import build_model
    progressive(sr_output=1)
    module = build_model("progressive-user", 2)
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(module(x), torch.sigmoid(module.up(module.conv(x))))   # index 1, the image
    assert set(module.state_dict()) == {"conv.weight", "conv.bias"}            # checkpoints load unchanged
    figures = {}
    for backend in ("torch", "ort"):
        code, out, err = _eval_in_process(capsys, tmp_path, backend)
        assert code == 0, err
        figures[backend] = json.loads(out)["mean_psnr"]
    assert figures["torch"] == pytest.approx(figures["ort"], abs=1e-3)
    assert 5.0 < figures["torch"] < 40.0
    assert load_module("progressive-user", 2, None) is not None


def test_sr_output_picks_in_torch_and_onnx(tmp_path, monkeypatch):
    """In process: the same index picks the same tensor from the module and from the ONNX file."""
    import torch
    from torch import nn

    from srharness.deploy import deploy
    from srharness.models import MODELS, OutputSelectionError, build_model
    from srharness.registry import ModelSpec, register_model

    class Two(nn.Module):
        def __init__(self, scale):
            super().__init__()
            self.conv = nn.Conv2d(1, scale * scale, 3, padding=1)
            self.up = nn.PixelShuffle(scale)

        def forward(self, x):
            y = self.up(self.conv(x))
            return {"coarse": y, "sr": y * 0.25 + 0.5}

    base = {"builder": Two, "scales": (2,), "reference": "t", "in_channels": 1, "input_range": 1.0, "upsamples": True,
                "guide_input_shape": (1, 1, 8, 8), "guide_opset": 13}
    try:
        register_model(ModelSpec(name="two-out", **base), replace_existing=True)
        with pytest.raises(OutputSelectionError, match="sr_output"):
            build_model("two-out", 2)(torch.zeros(1, 1, 8, 8))
        register_model(ModelSpec(name="two-out", sr_output="sr", **base), replace_existing=True)
        x = np.random.default_rng(0).random((1, 1, 8, 8), dtype=np.float32)
        t = deploy("two-out", 2, backend="torch").runner.run(x)
        o = deploy("two-out", 2, backend="ort", export_cache=tmp_path / "c").runner.run(x)
        assert t.min() >= 0.0 and np.allclose(t, o, atol=1e-5)
        assert np.abs(t - 0.5).max() < 0.5     # the "sr" entry, not "coarse"
    finally:
        if "two-out" in MODELS:
            del MODELS["two-out"]


# ---------------------------------------------------------------- the layer's own pieces
def test_weights_dir_precedence(tmp_path, monkeypatch):
    from srharness.settings import weights_dir
    monkeypatch.delenv("SRHARNESS_WEIGHTS_DIR", raising=False)
    monkeypatch.delenv("SRHARNESS_DATA_DIR", raising=False)
    assert weights_dir(None, None) is None
    assert weights_dir(None, tmp_path / "d") == tmp_path / "d" / "weights"
    monkeypatch.setenv("SRHARNESS_WEIGHTS_DIR", str(tmp_path / "env"))
    assert weights_dir(None, tmp_path / "d") == tmp_path / "env"
    assert weights_dir(tmp_path / "flag", tmp_path / "d") == tmp_path / "flag"


def test_content_key_follows_weights_and_calibration(tmp_path):
    import torch

    from srharness.deploy import deploy, load_module
    module = load_module("srcnn", 2, None)
    ckpt = tmp_path / "w.pth"
    sd = {k: v * 1.01 for k, v in module.state_dict().items()}
    torch.save(sd, ckpt)
    a = deploy("srcnn", 2, backend="ort", export_cache=tmp_path / "c").key()
    b = deploy("srcnn", 2, backend="ort", weights=ckpt, export_cache=tmp_path / "c").key()
    assert a["source"] == b["source"] and a["weights"] != b["weights"] and a["onnx"] != b["onnx"]
    assert a["digest"] != b["digest"]
    c = deploy("srcnn", 2, backend="ort-int8-minmax", shape=(16, 16), export_cache=tmp_path / "c",
               workdir=tmp_path / "w").key()
    assert c["calibration"] and c["backend"] == "ort-int8-minmax"
    again = deploy("srcnn", 2, backend="ort", export_cache=tmp_path / "c").key()
    assert again == a     # same inputs, same key (the second export was a cache hit)


def test_parse_shape_is_the_cli_parser():
    from srharness.deploy import parse_shape
    from srharness.errors import UsageError
    assert parse_shape("32x48") == (32, 48) == parse_shape(" 32 , 48 ")
    for bad in ("32", "0x4", "99999x99999"):
        with pytest.raises(UsageError):
            parse_shape(bad)


def test_make_input_is_the_one_maker_of_noise_and_real_image_crops():
    """Noise, real-image crops (fidelity, export checks), the device pipelines' pools and the
    exporter's tracing example all come from make_input / srharness.data.inputs."""
    from srharness.data.colour import matlab_y
    from srharness.errors import UsageError
    from srharness.deploy import make_input
    from srharness.models import get_model_spec
    from srharness.runners.device import GpuOptions
    from srharness.runners.torch_runner import TorchPipeline
    from torch import nn
    rgb = np.random.default_rng(7).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    y = make_input("srcnn", (20, 30), image=rgb)                     # one channel: the centre crop's Y
    np.testing.assert_array_equal(y[0, 0], (matlab_y(rgb[10:30, 10:40]).astype(np.float32) / 255.0))
    spec = get_model_spec("rdn")                                     # RGB planes, on the model's range
    x = make_input(spec, (20, 30), batch=2, image=rgb)
    assert x.shape == (2, 3, 20, 30) and x.dtype == np.float32
    np.testing.assert_allclose(x[1], rgb[10:30, 10:40].transpose(2, 0, 1) / 255.0 * spec.input_range, rtol=1e-6)
    with pytest.raises(UsageError, match=r"set5/baby is 40x50: no 48x48 crop of it"):
        make_input("srcnn", (48, 48), image=rgb, where="set5/baby")
    pipe = TorchPipeline(nn.Identity(), (1, 1, 8, 8), 1.0, GpuOptions(), device="cpu", distinct_inputs=3)
    for i, pooled in enumerate(pipe.host_inputs()):
        np.testing.assert_array_equal(pooled, make_input("srcnn", (8, 8), seed=i))
