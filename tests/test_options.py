"""Options: a value given with a space works as with `=`, from a user project pytest finds by its ini file."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

WHERE = """
def test_where(request, sr_data_dir, sr_golden_dir):
    print(f"ROOT={request.config.rootpath} INI={request.config.inipath} DATA={sr_data_dir} GOLDEN={sr_golden_dir}")
"""


def _user_project(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    (proj / "tests").mkdir(parents=True)
    (proj / "golden").mkdir()
    (proj / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\naddopts = "-s"\n')
    (proj / "tests" / "test_where.py").write_text(WHERE)
    (tmp_path / "data").mkdir()          # outside the project, as the README's ../../../shared/data
    return proj


@pytest.mark.parametrize("form", ["space", "equals"])
def test_data_dir_with_a_space_finds_the_project(tmp_path, form):
    proj = _user_project(tmp_path)
    opt = ["--sr-data-dir", "../data"] if form == "space" else ["--sr-data-dir=../data"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop("SRHARNESS_DATA_DIR", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", *opt, "-p", "no:cacheprovider", "-q"], cwd=proj,
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(x for x in proc.stdout.splitlines() if "ROOT=" in x)
    assert f"ROOT={proj} INI={proj / 'pyproject.toml'}" in line           # the project's ini, its addopts (-s) applied
    assert f"DATA={tmp_path / 'data'}" in line
    assert f"GOLDEN={proj / 'golden'}" in line
