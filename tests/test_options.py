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


# ---------------------------------------------------------------- one settings table
def test_readme_option_table_is_the_settings_table():
    from srharness import settings
    readme = (REPO / "README.md").read_text()
    assert settings.markdown_table() in readme, "README's option table differs from srharness.settings.markdown_table()"


def test_no_srharness_environment_read_outside_settings():
    import ast
    import re
    from srharness import settings
    readers = []
    for path in (REPO / "srharness").rglob("*.py"):
        if path.name == "settings.py" or "_bundle" in path.parts:
            continue
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            # os.environ.get(...), os.environ[...], os.getenv(...)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "getenv"):
                base = ast.unparse(node.func.value)
                if base in ("os.environ", "os") and node.args:
                    arg = ast.unparse(node.args[0])
                    if "SRHARNESS" in arg or arg.endswith("_ENV"):
                        readers.append(f"{path.relative_to(REPO)}:{node.lineno}")
            if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ" and \
                    isinstance(node.ctx, ast.Load):
                readers.append(f"{path.relative_to(REPO)}:{node.lineno}")
        for name in re.findall(r"\"(SRHARNESS_[A-Z0-9_]+)\"", text):
            assert name in settings.BY_ENV, f"{path.name}: {name} is not in srharness.settings.SETTINGS"
    assert [r for r in readers if "distributed.py" not in r] == []       # torchrun's RANK/WORLD_SIZE are not ours


def test_precedence_flag_env_yaml_default(monkeypatch):
    from srharness import settings
    monkeypatch.delenv("SRHARNESS_WEIGHTS_DIR", raising=False)
    assert settings.resolve("sr_weights_dir") is None
    assert settings.resolve("sr_weights_dir", yaml="/y") == "/y"
    monkeypatch.setenv("SRHARNESS_WEIGHTS_DIR", "/e")
    assert settings.resolve("sr_weights_dir", yaml="/y") == "/e"
    assert settings.resolve("sr_weights_dir", flag="/f", yaml="/y") == "/f"
    monkeypatch.setenv("SRHARNESS_REQUIRE_FIGURES", "maybe")
    with pytest.raises(settings.UsageError, match="SRHARNESS_REQUIRE_FIGURES: 'maybe' is not a yes/no value"):
        settings.resolve("sr_require_figures")
    assert settings.resolve("sr_require_figures", flag=True) is True
    assert settings.resolve("figure_budget_macs") == 1.5e12


def test_pytest_help_lists_every_flag_of_the_table(tmp_path):
    from srharness import settings
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider", "-p", "srharness.plugin"],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]       # "fps:10%" in a help text once broke argparse
    for s in settings.SETTINGS:
        if s.flag:
            assert s.flag in proc.stdout and s.env in proc.stdout


@pytest.mark.parametrize("how", ["flag", "env"])
def test_pytest_weights_dir_by_flag_or_env(tmp_path, how):
    proj = _user_project(tmp_path)
    (proj / "tests" / "test_where.py").write_text(
        "def test_w(sr_weights_dir):\n    print(f'WEIGHTS={sr_weights_dir}')\n")
    (tmp_path / "w").mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop("SRHARNESS_DATA_DIR", None)
    args = ["--sr-weights-dir", str(tmp_path / "w")] if how == "flag" else []
    if how == "env":
        env["SRHARNESS_WEIGHTS_DIR"] = str(tmp_path / "w")
    else:
        env["SRHARNESS_WEIGHTS_DIR"] = str(tmp_path)       # the flag beats its environment twin
    proc = subprocess.run([sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider", "-q"], cwd=proj,
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"WEIGHTS={tmp_path / 'w'}" in proc.stdout
