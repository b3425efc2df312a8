"""The wheel is the whole product: built from this clone it carries srharness/_bundle/ with every
file of resources.BUNDLED (goldens, built-in suites, fake tools with their executable bits, recorded
logs, example configs) and the suites' pytest.ini. Installing and running it outside the clone is
.ci/run's wheel job (a fresh venv, no clone)."""
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

from srharness import resources

ROOT = Path(__file__).resolve().parents[1]
# what the issue asks the wheel to carry, written out here (not read from resources.BUNDLED)
SHIPPED = ("golden", "suites", "fixtures", "nightly.example.yaml", "farm.example.yaml")


def _tracked(name: str) -> set[str]:
    out = subprocess.run(["git", "ls-files", name], cwd=ROOT, capture_output=True, text=True).stdout
    return {line for line in out.splitlines() if "__pycache__" not in line}


def test_wheel_bundles_every_shipped_file_with_its_mode(tmp_path):
    if not (ROOT / ".git").exists():
        import pytest
        pytest.skip("not a git clone: the tracked-file list comes from git")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",   # isolated build, as .ci/wheel
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = tmp_path.glob("srharness-*.whl")
    with zipfile.ZipFile(wheel) as z:
        infos = {i.filename: i for i in z.infolist()}
    prefix = f"srharness/{resources.BUNDLE_NAME}/"
    expected = set().union(*(_tracked(name) for name in SHIPPED)) | {"conftest.py", "pytest.ini"}
    bundled = {n[len(prefix):] for n in infos if n.startswith(prefix)}
    assert expected <= bundled, sorted(expected - bundled)
    for rel in expected:
        src_mode = (ROOT / rel).stat().st_mode
        mode = infos[prefix + rel].external_attr >> 16
        assert bool(mode & stat.S_IXUSR) == bool(src_mode & stat.S_IXUSR), rel
    assert infos[prefix + "fixtures/fake_tools/vamc"].external_attr >> 16 & stat.S_IXUSR
    assert "srharness/tolerances.yaml" in infos and "srharness/known_checkpoints.tsv" in infos
