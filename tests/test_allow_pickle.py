"""A legacy full-model pickle the user trusts: classes named on an explicit allow-list (CLI
--allow-pickle-class, pytest --sr-allow-pickle-class, env SRHARNESS_ALLOW_PICKLE_CLASSES) are
read as inert stubs; the refusal lists every class the file needs at once; nothing runs."""
import os
import subprocess
import sys
import textwrap

import pytest

from srharness import checkpoints
from srharness.checkpoints import CheckpointError, allow_pickle_classes, load_state_dict

LAPSRN = textwrap.dedent('''
    import pathlib
    from torch import nn
    pathlib.Path(__file__).with_name("IMPORTED").touch()      # must never happen while loading

    class _Conv_Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(1, 4, 3, padding=1)

        def __setstate__(self, state):
            pathlib.Path(__file__).with_name("EXECUTED").touch()
            super().__setstate__(state)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.b = _Conv_Block()
            self.o = nn.Conv2d(4, 4, 3, padding=1)
            self.up = nn.PixelShuffle(2)

        def forward(self, x):
            return self.up(self.o(self.b.c(x)))
''')

PLUGIN = textwrap.dedent('''
    from torch import nn
    from srharness.registry import ModelSpec

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(1, 4, 3, padding=1)

    class LapNet(nn.Module):      # the user's own code for the architecture, not the pickle's
        def __init__(self, scale):
            super().__init__()
            self.b = Block()
            self.o = nn.Conv2d(4, 4, 3, padding=1)
            self.up = nn.PixelShuffle(2)

        def forward(self, x):
            return self.up(self.o(self.b.c(x)))

    def srharness_register(api):
        api.register_model(ModelSpec(name="lapsrn-user", builder=LapNet, scales=(2,), reference="user",
                                     in_channels=1, input_range=1.0, upsamples=True,
                                     guide_input_shape=(1, 1, 16, 16), guide_opset=9, test_shape=(16, 16)))
''')


@pytest.fixture
def legacy_pickle(tmp_path):
    """A full pickled model (torch.save(model)) made in a child process; the module that defined
    its classes is not importable here."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "lapsrn.py").write_text(LAPSRN)
    path = tmp_path / "lapsrn_full.pth"
    subprocess.run([sys.executable, "-c", f"import torch, lapsrn; torch.save({{'epoch': 1, 'model': lapsrn.Net()}}, "
                    f"{str(path)!r})"], cwd=src, check=True, timeout=300)
    (src / "IMPORTED").unlink()
    yield path, src
    allow_pickle_classes("")


def test_refusal_lists_every_class_at_once_and_runs_nothing(legacy_pickle):
    path, src = legacy_pickle
    with pytest.raises(CheckpointError) as err:
        load_state_dict(path)
    message = str(err.value)
    assert "lapsrn.Net, lapsrn._Conv_Block" in message
    assert "--allow-pickle-class lapsrn.Net,lapsrn._Conv_Block" in message
    assert "nothing from the file was executed" in message
    assert not (src / "IMPORTED").exists() and not (src / "EXECUTED").exists()


def test_allowed_classes_load_as_inert_stubs(legacy_pickle):
    path, src = legacy_pickle
    allow_pickle_classes("lapsrn.Net")
    with pytest.raises(CheckpointError, match="lapsrn._Conv_Block"):     # one class still missing
        load_state_dict(path)
    allow_pickle_classes(["lapsrn.Net", "lapsrn._Conv_Block"])
    sd, info = load_state_dict(path)
    assert sorted(sd) == ["b.c.bias", "b.c.weight", "o.bias", "o.weight"]
    assert "full-model pickle (lapsrn.Net)" in info.format
    assert "lapsrn" not in sys.modules
    assert not (src / "IMPORTED").exists() and not (src / "EXECUTED").exists()


@pytest.mark.parametrize("bad", ["os.system", "builtins.eval", "Net", "torch.load", "lapsrn.1x"])
def test_allow_list_refuses_what_is_no_model_class(bad):
    with pytest.raises(ValueError):
        allow_pickle_classes(bad)
    assert checkpoints.allowed_pickle_classes() == ["vdsr.Conv_ReLU_Block", "vdsr.Net"]


@pytest.mark.slow
@pytest.mark.parametrize("how", ["flag", "env"])
def test_cli_flag_and_env_twin(legacy_pickle, tmp_path, how):
    path, _ = legacy_pickle
    (tmp_path / "lap_plugin.py").write_text(PLUGIN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRHARNESS_")}
    base = [sys.executable, "-m", "srharness", "--sr-plugin", "lap_plugin", "export", "lapsrn-user",
            "--weights", str(path), "-o", str(tmp_path / "out.onnx")]
    refused = subprocess.run(base, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert refused.returncode == 2 and "lapsrn.Net, lapsrn._Conv_Block" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "out.onnx").exists()
    if how == "flag":
        argv = base + ["--allow-pickle-class", "lapsrn.Net", "--allow-pickle-class", "lapsrn._Conv_Block"]
    else:
        argv, env = base, {**env, "SRHARNESS_ALLOW_PICKLE_CLASSES": "lapsrn.Net,lapsrn._Conv_Block"}
    ok = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "out.onnx").is_file()


pytest_plugins = ["pytester"]


@pytest.mark.slow
def test_pytest_option(legacy_pickle, pytester, monkeypatch):
    path, _ = legacy_pickle
    monkeypatch.delenv("SRHARNESS_ALLOW_PICKLE_CLASSES", raising=False)
    pytester.makepyfile(lap_plugin=PLUGIN, test_w=f'''
        def test_weights(sr_model):
            model = sr_model("lapsrn-user", 2, weights={str(path)!r})
            assert model.weights_source.endswith("lapsrn_full.pth")
    ''')
    pytester.runpytest_subprocess("--sr-plugin=lap_plugin", "-p", "no:cacheprovider").assert_outcomes(failed=1)
    pytester.runpytest_subprocess("--sr-plugin=lap_plugin", "-p", "no:cacheprovider",
                                  "--sr-allow-pickle-class=lapsrn.Net,lapsrn._Conv_Block").assert_outcomes(passed=1)
