"""One precedence on every surface: the same option given by flag, environment and YAML resolves
the same way (flag > env > YAML > default, srharness.settings) in pytest, the CLI and the nightly."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from srharness import settings

REPO = Path(__file__).resolve().parents[1]
CASES = [  # (given by flag, env, YAML) -> the winner, as settings.resolve_from says
    ({"flag": "A", "env": "B", "yaml": "C"}, "flag"),
    ({"env": "B", "yaml": "C"}, "env"),
    ({"yaml": "C"}, "yaml"),
]


@pytest.fixture
def dirs(tmp_path):
    out = {k: tmp_path / k for k in "ABC"}
    for p in out.values():
        (p / "weights").mkdir(parents=True)
    return out


def test_the_table_order(monkeypatch):
    for given, source in CASES:
        monkeypatch.delenv("SRHARNESS_DATA_DIR", raising=False)
        if "env" in given:
            monkeypatch.setenv("SRHARNESS_DATA_DIR", given["env"])
        assert settings.resolve_from("sr_data_dir", flag=given.get("flag"), yaml=given.get("yaml")) == \
            (given[source], source)


@pytest.mark.parametrize("given, source", [c for c in CASES if "flag" in c[0] or "yaml" not in c[0]]
                         + [({"env": "B"}, "env")])
def test_pytest_surface(tmp_path, dirs, given, source):
    proj = tmp_path / "proj"
    (proj / "tests").mkdir(parents=True)
    (proj / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\naddopts = "-s"\n')
    (proj / "tests" / "test_where.py").write_text(
        "def test_w(sr_data_dir, sr_weights_dir):\n    print(f'DATA={sr_data_dir} WEIGHTS={sr_weights_dir}')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop("SRHARNESS_WEIGHTS_DIR", None)
    env.pop("SRHARNESS_DATA_DIR", None)
    if "env" in given:
        env["SRHARNESS_DATA_DIR"] = str(dirs[given["env"]])
    args = ["--sr-data-dir", str(dirs[given["flag"]])] if "flag" in given else []
    proc = subprocess.run([sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider", "-q"], cwd=proj,
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    want = dirs[given[source]]
    assert f"DATA={want} WEIGHTS={want / 'weights'}" in proc.stdout, proc.stdout


@pytest.mark.parametrize("given, source", [({"flag": "A", "env": "B"}, "flag"), ({"env": "B"}, "env")])
def test_cli_surface(monkeypatch, capsys, dirs, given, source):
    from srharness.cli import main
    monkeypatch.delenv("SRHARNESS_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("SRHARNESS_DATA_DIR", str(dirs[given["env"]]))
    args = ["--data-dir", str(dirs[given["flag"]])] if "flag" in given else []
    assert main(["doctor", "--json", *args]) in (0, None, 1)
    data = json.loads(capsys.readouterr().out)["data"]
    want = dirs[given[source]]
    assert (data["data_dir"], data["weights_dir"]) == (str(want), str(want / "weights"))


@pytest.mark.parametrize("given, source", [c for c in CASES if "flag" not in c[0]])
def test_nightly_yaml_surface(monkeypatch, tmp_path, dirs, given, source):
    """The nightly has no flag for these: its YAML is beaten by the environment, as pytest's default
    is; the pytest it starts gets the resolved folder."""
    import yaml

    from srharness import nightly
    (tmp_path / "test_demo.py").write_text("def test_ok():\n    pass\n")
    path = tmp_path / "nightly.yaml"
    path.write_text(yaml.safe_dump({"suites": ["test_demo.py"], "require": ["cpu"], "out_dir": "out",
                                    "data_dir": str(dirs[given["yaml"]])}))
    monkeypatch.delenv("SRHARNESS_DATA_DIR", raising=False)
    if "env" in given:
        monkeypatch.setenv("SRHARNESS_DATA_DIR", str(dirs[given["env"]]))
    cfg = nightly.load_config(path)
    want = dirs[given[source]].resolve()
    assert cfg.data_dir == want
    assert f"--sr-data-dir={want}" in nightly.pytest_command(cfg)


def test_nightly_bad_environment_folder_is_named(monkeypatch, tmp_path, dirs):
    import yaml

    from srharness import nightly
    (tmp_path / "test_demo.py").write_text("def test_ok():\n    pass\n")
    path = tmp_path / "nightly.yaml"
    path.write_text(yaml.safe_dump({"suites": ["test_demo.py"], "require": ["cpu"], "data_dir": str(dirs["C"])}))
    monkeypatch.setenv("SRHARNESS_DATA_DIR", str(tmp_path / "missing"))
    with pytest.raises(nightly.NightlyConfigError, match=r"SRHARNESS_DATA_DIR=.*missing \(beats .*data_dir'\)"):
        nightly.load_config(path)


def test_nightly_require_and_compare_rules_follow_the_same_order(monkeypatch, tmp_path):
    import yaml

    from srharness import nightly
    (tmp_path / "test_demo.py").write_text("def test_ok():\n    pass\n")
    path = tmp_path / "nightly.yaml"
    path.write_text(yaml.safe_dump({"suites": ["test_demo.py"], "require": ["cuda"], "compare_fail": "fps:10%",
                                    "require_figures": False}))
    for name in ("SRHARNESS_REQUIRE", "SRHARNESS_COMPARE_FAIL", "SRHARNESS_REQUIRE_FIGURES"):
        monkeypatch.delenv(name, raising=False)
    cfg = nightly.load_config(path)
    assert (cfg.require, cfg.compare_fail, cfg.require_figures) == (["cuda"], "fps:10%", False)
    monkeypatch.setenv("SRHARNESS_REQUIRE", "cpu")
    monkeypatch.setenv("SRHARNESS_COMPARE_FAIL", "psnr:0.05dB")
    monkeypatch.setenv("SRHARNESS_REQUIRE_FIGURES", "1")
    cfg = nightly.load_config(path)
    assert (cfg.require, cfg.compare_fail, cfg.require_figures) == (["cpu"], "psnr:0.05dB", True)
    cmd = nightly.pytest_command(cfg)
    assert {"--sr-require=cpu", "--sr-compare-fail=psnr:0.05dB", "--sr-require-figures"} <= set(cmd)
    monkeypatch.setenv("SRHARNESS_REQUIRE", "nope")
    with pytest.raises(nightly.NightlyConfigError, match="SRHARNESS_REQUIRE: unknown hardware nope"):
        nightly.load_config(path)


def test_nightly_weights_file_follows_the_same_order(monkeypatch, tmp_path):
    """The nightly's `weights` (a checkpoint with no model code, pytest's --sr-weights): relative to
    the config file, beaten by $SRHARNESS_WEIGHTS (relative to the current folder), a missing file named."""
    import yaml

    from srharness import nightly
    (tmp_path / "test_demo.py").write_text("def test_ok():\n    pass\n")
    (tmp_path / "a.pth").write_bytes(b"x")
    (tmp_path / "b.pth").write_bytes(b"x")
    path = tmp_path / "nightly.yaml"
    path.write_text(yaml.safe_dump({"suites": ["test_demo.py"], "require": ["cpu"], "weights": "a.pth"}))
    monkeypatch.delenv("SRHARNESS_WEIGHTS", raising=False)
    monkeypatch.chdir(tmp_path.parent)
    cfg = nightly.load_config(path)
    assert cfg.weights == tmp_path / "a.pth"
    assert f"--sr-weights={tmp_path / 'a.pth'}" in nightly.pytest_command(cfg)
    monkeypatch.setenv("SRHARNESS_WEIGHTS", str(Path(tmp_path.name) / "b.pth"))
    assert nightly.load_config(path).weights == tmp_path / "b.pth"
    monkeypatch.setenv("SRHARNESS_WEIGHTS", "gone.pth")
    with pytest.raises(nightly.NightlyConfigError, match=r"SRHARNESS_WEIGHTS=gone.pth \(beats .*weights'\): .*gone.pth "
                                                         r"is not a file"):
        nightly.load_config(path)
    monkeypatch.delenv("SRHARNESS_WEIGHTS")
    path.write_text(yaml.safe_dump({"suites": ["test_demo.py"], "require": ["cpu"], "weights": "nope.pth"}))
    with pytest.raises(nightly.NightlyConfigError, match=r"field 'weights': .*nope.pth is not a file"):
        nightly.load_config(path)


@pytest.mark.parametrize("how", ["env", "flag"])
def test_diagnose_outside_a_clone_finds_the_weights_dir_and_the_published_golden(tmp_path, monkeypatch, capsys,
                                                                                  how):
    """Issue 19's wheel case without building a wheel (.ci/wheel runs the real one): from a folder with
    no golden/ and no data dir, with srharness's files where a wheel keeps them (resources.base_dir),
    `srharness diagnose` takes the weights dir from $SRHARNESS_WEIGHTS_DIR or --weights-dir and judges
    by the published golden's rule, not "(no golden)"."""
    import shutil

    import srharness.diagnose
    from srharness import resources
    from srharness.deploy import resolve_weights
    from srharness.diagnose.run import figure_rule
    from srharness.models import get_model_spec
    from srharness.cli import main
    bundle = tmp_path / "site-packages" / "srharness" / "_bundle"
    shutil.copytree(REPO / "golden", bundle / "golden")
    monkeypatch.setattr(resources, "base_dir", lambda: bundle)
    (tmp_path / "w" / "vdsr").mkdir(parents=True)
    (tmp_path / "w" / "vdsr" / "vdsr_state_dict.pth").write_bytes(b"")     # found by name; not loaded here
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    for var in ("SRHARNESS_DATA_DIR", "SRHARNESS_WEIGHTS_DIR", "SRHARNESS_GOLDEN_DIR"):
        monkeypatch.delenv(var, raising=False)
    if how == "env":
        monkeypatch.setenv("SRHARNESS_WEIGHTS_DIR", str(tmp_path / "w"))
    seen = []
    monkeypatch.setattr(srharness.diagnose, "diagnose", lambda cfg, **kw: seen.append(cfg) or {})
    args = ["diagnose", "vdsr", "--scale", "4", "--backend", "ort-fp16", "--weights", "auto", "--json"]
    assert main(args + (["--weights-dir", str(tmp_path / "w")] if how == "flag" else [])) == 0
    cfg, = seen
    assert resolve_weights(cfg.weights, "vdsr", 4, weights_dir=settings.weights_dir(cfg.weights_dir, cfg.data_dir)) \
        == tmp_path / "w" / "vdsr" / "vdsr_state_dict.pth"
    text = figure_rule(cfg, get_model_spec("vdsr"), "vdsr-vacc", "fp16")[2]
    assert "rule of golden vdsr/x4/set5/psnr/vacc-fp16" in text, text
    capsys.readouterr()
