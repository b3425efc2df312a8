"""`srharness new-model` (srharness.scaffold): the project it writes installs with `pip install -e` and
runs green at once with `pytest -m cpu`, its recorded golden figure judged; examples/espcn has the
same layout (checked against a fresh scaffold of it)."""
import ast
import os
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from srharness.cli import main as cli_main


ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "espcn"


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SRHARNESS_", "PYTEST_XDIST"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])   # this clone's srharness
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


@pytest.fixture(scope="module")
def espcn2(tmp_path_factory) -> Path:
    parent = tmp_path_factory.mktemp("scaffold")
    proc = subprocess.run([sys.executable, "-m", "srharness", "new-model", "espcn2", "--kind", "y-lr", "--scales", "3"],
                          cwd=parent, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "golden espcn2/x3/embedded/psnr/recorded = " in proc.stdout
    return parent / "espcn2"


@pytest.mark.slow
def test_new_model_installs_and_is_green_with_its_figure_judged(espcn2, tmp_path):
    # a throwaway venv seeing this environment's packages (srharness, torch...): the install touches
    # nothing shared, and the project's entry point is found through its own dist-info
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    py = tmp_path / "venv" / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "_base_env.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    proc = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "-e", str(espcn2)],
                          env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run([str(py), "-m", "pytest", "-m", "cpu", "-p", "no:cacheprovider", "-q"], cwd=espcn2,
                          env=_env(), capture_output=True, text=True, timeout=1200)
    print(proc.stdout[-3000:])
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "golden figures judged 1/1" in proc.stdout
    assert "espcn2/x3/embedded/psnr/recorded" in proc.stdout or " pass " in proc.stdout


def test_the_example_project_has_the_scaffolds_layout(espcn2):
    """examples/espcn was written by hand before the scaffold: same pyproject sections, the same
    entry-point group, package data, pytest options, the same check classes and plugin calls."""
    mine, theirs = (tomllib.loads((p / "pyproject.toml").read_text()) for p in (espcn2, EXAMPLE))
    assert set(mine) == set(theirs)
    assert set(mine["project"]["entry-points"]) == set(theirs["project"]["entry-points"]) == {"srharness.plugins"}
    assert mine["tool"]["pytest"] == theirs["tool"]["pytest"]
    assert set(mine["tool"]["setuptools"]) == set(theirs["tool"]["setuptools"])

    def classes(path):
        return {n.name: [b.id for b in n.bases] for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef)}
    assert classes(espcn2 / "tests" / "test_espcn2.py").items() <= classes(EXAMPLE / "tests" / "test_espcn.py").items()

    def spec_fields(path):
        calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)
                 and getattr(n.func, "attr", "") == "ModelSpec"]
        return {k.arg for k in calls[0].keywords}
    extra = spec_fields(EXAMPLE / "espcn_example" / "plugin.py") - spec_fields(espcn2 / "espcn2_sr" / "plugin.py")
    assert extra <= {"guide_input_name", "guide_output_name", "param_count"}, extra   # naming and a census only
    protocol = (espcn2 / "espcn2_sr" / "espcn2_protocol.yaml").read_text()
    assert "extends: benchmark" in protocol and "models: [y-lr]" in protocol


@pytest.mark.parametrize("argv, message", [
    (["Bad_Name"], "lower-case letters"),
    (["x2", "--kind", "y-lr", "--channels", "3"], "kind y-lr takes 1 channel"),
    (["x2", "--scales", "1"], "between 2 and 8"),
    (["x2", "--extends", "nope"], "not a registered protocol"),
    (["x2", "--weights", "/nonexistent.pth"], "no such file"),
])
def test_bad_answers_are_one_line_errors(tmp_path, capsys, argv, message):
    rc = cli_main(["new-model", *argv, "--dir", str(tmp_path)])
    assert rc == 2 and message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []          # nothing half-written


def test_an_existing_folder_is_never_overwritten(tmp_path):
    (tmp_path / "x2").mkdir()
    from srharness.scaffold import new_model
    with pytest.raises(Exception, match="already exists"):
        new_model("x2", tmp_path, "y-lr", [2])

