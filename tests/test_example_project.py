"""examples/espcn, a user's project: its own `pytest -m cpu` from its folder and the CLI on its
model work with no edit to srharness. Installed (`pip install -e examples/espcn`, as CI does) the
entry point registers it; otherwise the same plugin module is named with SRHARNESS_PLUGINS."""
import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "espcn"
pytestmark = pytest.mark.slow


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("SRHARNESS_PLUGINS", "SRHARNESS_GOLDEN_DIR",
                                                            "SRHARNESS_WEIGHTS_DIR", "SRHARNESS_REQUIRE")}
    try:
        distribution("srharness-espcn-example")
    except PackageNotFoundError:     # not installed: same plugin, named instead of found
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(EXAMPLE), env.get("PYTHONPATH")]))
        env["SRHARNESS_PLUGINS"] = "espcn_example.plugin"
    return env


def test_example_runs_its_own_pytest_from_its_folder():
    proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "cpu", "-q", "-p", "no:cacheprovider"],
                          cwd=EXAMPLE, env=_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout.splitlines()[-1]


def test_cli_exports_and_evaluates_the_example_model(tmp_path):
    out = tmp_path / "espcn.onnx"
    cli = [sys.executable, "-m", "srharness"]
    export = subprocess.run(cli + ["export", "espcn", "--scale", "3", "-o", str(out), "--json"], cwd=tmp_path,
                            env=_env(), capture_output=True, text=True, timeout=300)
    assert export.returncode == 0, export.stderr
    assert '"opset": 9' in export.stdout and '"lr_y"' in export.stdout
    env = {k: v for k, v in _env().items() if k != "SRHARNESS_DATA_DIR"}
    evaluated = subprocess.run(cli + ["eval", "espcn", "--scale", "3", "--weights", "auto", "--images", "camera",
                                      "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr
    assert '"protocol": "espcn-team"' in evaluated.stdout and "espcn_x3.pth" in evaluated.stdout
