"""srharness.resources: the one answer for where goldens, suites, fixtures and example configs are,
the same from a clone (these tests) and from an installed wheel (.ci/run's wheel job)."""
from pathlib import Path

import pytest

from srharness import resources

ROOT = Path(__file__).resolve().parents[1]


def test_clone_resolves_to_its_own_folders():
    assert resources.clone_root() == ROOT
    assert resources.golden_dir() == ROOT / "golden"
    assert resources.suites_dir() == ROOT / "suites"
    assert resources.fake_tools_dir() == ROOT / "fixtures" / "fake_tools"
    assert resources.logs_dir() == ROOT / "fixtures" / "logs"
    assert resources.example_config("nightly") == ROOT / "nightly.example.yaml"
    assert resources.tolerances_file() == ROOT / "srharness" / "tolerances.yaml"
    for name in resources.BUNDLED:
        assert (ROOT / name).exists(), name


def test_a_project_golden_dir_wins_over_the_bundled_one(tmp_path):
    assert resources.golden_dir(tmp_path) == ROOT / "golden"          # no golden/ of its own
    (tmp_path / "golden").mkdir()
    assert resources.golden_dir(tmp_path) == tmp_path / "golden"


def test_unknown_example_config_names_the_choices():
    with pytest.raises(ValueError, match="nightly, farm"):
        resources.example_config("weekly")


def test_cli_and_diagnose_agree_with_pytest_on_the_default(tmp_path, monkeypatch):
    """The golden dir once had 3 answers in 4 places (rootdir/golden, ./golden, the package's parent);
    now all ask resources.golden_dir."""
    from srharness.cli.golden import _golden_dir
    monkeypatch.delenv("SRHARNESS_GOLDEN_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert _golden_dir(None) == ROOT / "golden"


def _cli(*argv, cwd=None):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "srharness", *argv], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_example_nightly_points_at_the_shipped_suites_wherever_saved(tmp_path):
    import yaml
    proc = _cli("example", "nightly")
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load(proc.stdout)
    assert cfg["suites"] == [str(resources.suites_dir())]
    assert cfg["markers"] == "cpu"
    farm = yaml.safe_load(_cli("example", "farm").stdout)
    assert farm["nightly"] == "nightly.yaml"


def test_fakes_puts_the_fake_tools_and_this_python_first_on_path(tmp_path):
    import os
    import shutil
    import subprocess
    proc = _cli("fakes")
    assert proc.returncode == 0, proc.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRHARNESS_")}
    out = subprocess.run(["bash", "-c", proc.stdout + "command -v vamc; echo $SRHARNESS_HW_SHAPE"], env=env,
                         capture_output=True, text=True).stdout.split()
    assert out == [str(resources.fake_tools_dir() / "vamc"), "test"]
    assert shutil.which("vamc") is None or "fake_tools" in shutil.which("vamc")


def test_where_prints_each_path():
    assert _cli("where", "logs").stdout.strip() == str(resources.logs_dir())
    assert _cli("where", "suites").stdout.strip() == str(resources.suites_dir())
