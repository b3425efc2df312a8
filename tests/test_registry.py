"""The registries: built-ins come in through the same public call a user's package makes; a
user model registered from outside the package is found by the CLI and the checks; conflicts
and bad specs get clear errors."""
import subprocess
import sys
import textwrap

import pytest

from srharness import registry
from srharness.registry import MODELS, ModelSpec, RegistryError, register_model

TINY = dict(scales=(2,), reference="test", in_channels=1, input_range=1.0, upsamples=True,
            guide_input_shape=(1, 1, 16, 16), guide_opset=13, test_shape=(8, 8))


def _tiny_net(scale):
    from torch import nn
    return nn.Sequential(nn.Conv2d(1, scale * scale, 3, padding=1), nn.PixelShuffle(scale))


def test_builtins_are_registered_by_the_builtin_plugin():
    assert {"srcnn", "vdsr", "rdn", "rcan", "rcan-sr4k", "rcan-sr4k-lite", "rcan-training"} <= set(MODELS)
    assert MODELS.origin("vdsr") == "srharness.builtin"
    assert "srharness.builtin" in registry.loaded_plugins()
    from importlib.metadata import entry_points
    assert any(ep.value == "srharness.builtin" for ep in entry_points(group=registry.ENTRY_POINT_GROUP))


def test_per_model_facts_live_in_the_spec():
    vdsr, rdn, rcan = MODELS["vdsr"], MODELS["rdn"], MODELS["rcan"]
    assert (vdsr.guide_protocol, vdsr.input_kind, vdsr.weight_patterns[-1]) == ("vdsr-vacc", "y-hr", "model_epoch_50.pth")
    assert (rdn.cpu_perf_shape, rdn.input_kind) == ((38, 38), "rgb")
    assert rcan.int8_cpu_check is False and rcan.graph_partition and not vdsr.graph_partition
    from srharness.hardware import HARDWARE
    assert HARDWARE["ascend"].devices_per_card == 4


def test_a_user_model_registers_and_conflicts_are_refused(monkeypatch):
    monkeypatch.delitem(MODELS, "tiny-user", raising=False)
    spec = register_model(ModelSpec(name="tiny-user", builder=_tiny_net, **TINY))
    try:
        assert MODELS["tiny-user"] is spec and spec.input_kind == "y-lr"
        assert spec.registered_by == __name__
        from srharness.models import build_model
        assert build_model("tiny-user", 2)[0].out_channels == 4
        with pytest.raises(RegistryError, match="already registered by"):
            MODELS.add("tiny-user", spec, origin="someone.else")
        with pytest.raises(RegistryError, match="already registered by srharness.builtin"):
            register_model(ModelSpec(name="vdsr", builder=_tiny_net, **TINY))
    finally:
        del MODELS["tiny-user"]


def test_bad_specs_and_unknown_names():
    with pytest.raises(RegistryError, match="give a builder"):
        ModelSpec(name="x", builder=None, **TINY)
    with pytest.raises(RegistryError, match="in_channels must be 1"):
        ModelSpec(name="x", builder=_tiny_net, **{**TINY, "in_channels": 2})
    with pytest.raises(KeyError, match="unknown model 'srgan'; known: srcnn"):
        MODELS["srgan"]


def test_onnx_only_model(tmp_path, monkeypatch):
    """A model with only an ONNX file: ort runs it, torch backends say why they cannot."""
    import numpy as np
    import torch
    from srharness.backends import BackendUnavailable, build_runner
    onnx = tmp_path / "user.onnx"
    torch.onnx.export(_tiny_net(2).eval(), (torch.rand(1, 1, 8, 8),), str(onnx), opset_version=13, dynamo=False,
                      input_names=["input"], output_names=["output"])
    monkeypatch.delitem(MODELS, "onnx-only", raising=False)
    spec = register_model(ModelSpec(name="onnx-only", builder=None, onnx=str(onnx), **TINY))
    try:
        assert not spec.has_torch
        out = build_runner("ort", spec=spec).run(np.zeros((1, 1, 8, 8), np.float32))
        assert out.shape == (1, 1, 16, 16)
        with pytest.raises(BackendUnavailable, match="ONNX-only"):
            build_runner("torch", spec=spec)
        from srharness.export import ExportError, export_onnx
        with pytest.raises(ExportError, match="ONNX-only"):
            export_onnx("onnx-only", tmp_path / "x.onnx")
    finally:
        del MODELS["onnx-only"]



def test_weights_auto_on_an_onnx_only_model_is_a_clear_error(tmp_path, monkeypatch, capsys):
    """`--weights auto` asks for an official checkpoint an ONNX-only model cannot have: a one-line
    error naming the model, its file and the fix, in eval and export; without --weights it runs."""
    import json

    import torch
    from srharness.cli import main
    from srharness.deploy import DeployError, resolve_weights
    onnx = tmp_path / "user.onnx"
    torch.onnx.export(_tiny_net(2).eval(), (torch.rand(1, 1, 8, 8),), str(onnx), opset_version=13, dynamo=False,
                      input_names=["input"], output_names=["output"], dynamic_axes={"input": {2: "h", 3: "w"}})
    monkeypatch.delitem(MODELS, "onnx-only", raising=False)
    spec = register_model(ModelSpec(name="onnx-only", builder=None, onnx=str(onnx), **TINY))
    try:
        assert resolve_weights("auto", spec, 2, required=False) is None     # the checks' "if there is one"
        with pytest.raises(DeployError, match="ONNX-only"):
            resolve_weights("auto", spec, 2)
        eval_args = ["eval", "onnx-only", "--scale", "2", "--dataset", "embedded", "--images", "camera"]
        for argv in (eval_args + ["--weights", "auto"], ["export", "onnx-only", "--weights", "auto", "-o",
                                                            str(tmp_path / "x.onnx")]):
            assert main(argv) == 2
            err = capsys.readouterr().err.strip()
            assert err.count("\n") == 0 and "Traceback" not in err, err
            assert f"--weights auto: onnx-only is an ONNX-only model ({onnx})" in err and "drop --weights" in err
        assert not (tmp_path / "x.onnx").exists()
        assert main(eval_args + ["--json"]) == 0                        # no --weights: its own file, by ort
        out = json.loads(capsys.readouterr().out)
        assert out["backend"] == "ort" and out["weights"] == f"the ONNX file {onnx}"
    finally:
        del MODELS["onnx-only"]


PLUGIN = textwrap.dedent('''
    from torch import nn
    from srharness.registry import ModelSpec

    def net(scale):
        return nn.Sequential(nn.Conv2d(1, scale * scale, 3, padding=1), nn.PixelShuffle(scale))

    def srharness_register(api):
        api.register_model(ModelSpec(name="cli-user", builder=net, scales=(2,), reference="test", in_channels=1,
                                     input_range=1.0, upsamples=True, guide_input_shape=(1, 1, 16, 16),
                                     guide_opset=13, test_shape=(8, 8)))
''')


@pytest.mark.slow
@pytest.mark.parametrize("how", ["option", "env", "path"])
def test_cli_loads_a_plugin_from_the_users_folder(tmp_path, how):
    (tmp_path / "my_plugin.py").write_text(PLUGIN)
    env = {k: v for k, v in __import__("os").environ.items() if k != "SRHARNESS_PLUGINS"}
    args = [sys.executable, "-m", "srharness", "export", "cli-user", "-o", str(tmp_path / "m.onnx"), "--json"]
    if how == "option":
        args[3:3] = ["--sr-plugin", "my_plugin"]
    elif how == "path":
        args += ["--sr-plugin", str(tmp_path / "my_plugin.py")]
    else:
        env["SRHARNESS_PLUGINS"] = "my_plugin"
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert '"model": "cli-user"' in proc.stdout and (tmp_path / "m.onnx").is_file()


@pytest.mark.slow
def test_cli_unknown_plugin_is_one_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "srharness", "--sr-plugin", "no_such_mod", "export", "vdsr", "-o",
                           str(tmp_path / "x.onnx")], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "srharness plugin 'no_such_mod': no such module" in proc.stderr and "Traceback" not in proc.stderr


def test_a_user_hardware_gets_a_detector_and_a_marker(monkeypatch):
    from srharness.hardware import HARDWARE, Detection, detect
    from srharness.registry import register_hardware
    monkeypatch.delitem(HARDWARE, "fakecard", raising=False)
    register_hardware("fakecard", lambda: Detection("fakecard", False, "`fakecard-smi` on PATH"),
                      marker="needs a FakeCard", tools=("fakecard-smi",), devices_per_card=2)
    try:
        assert HARDWARE["fakecard"].devices_per_card == 2
        assert detect("fakecard").reason == "fakecard hardware not found (looked for `fakecard-smi` on PATH)"
    finally:
        del HARDWARE["fakecard"]
        detect.cache_clear()
    with pytest.raises(ValueError, match="unknown hardware 'fakecard'"):
        detect("fakecard")
