"""A checkpoint with no model code in pytest (`--sr-weights FILE`) and in a golden (`weights:`):
both go through srharness.zoo.register_checkpoint, as `srharness eval --weights FILE` does. The
checkpoints are made with spandrel's own classes (srharness.zoo.seeded), in temporary folders.
Skipped, naming the extra, where spandrel is not installed.
"""
from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from srharness.zoo import available

_ok, _why = available()
pytestmark = [pytest.mark.cpu, pytest.mark.zoo,
              pytest.mark.skipif(not _ok, reason=_why or "srharness[zoo] extra not installed")]

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "fixtures" / "zoo_golden" / "compact_seed0_x4.yaml"
GOLDEN_CHECKPOINT = "compact_seed0_x4.safetensors"


def _pytest(tmp_path: Path, *args: str, extra_path: Path | None = None, weights_env: Path | None = None
            ) -> subprocess.CompletedProcess:
    """pytest in a fresh process from a folder with no tests: what a user types (no test path)."""
    path = [str(REPO), *([str(extra_path)] if extra_path else []), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "SRHARNESS_EXPORT_CACHE": str(tmp_path / "exports")}
    for name in ("SRHARNESS_WEIGHTS", "SRHARNESS_GOLDEN_DIR", "SRHARNESS_PLUGINS", "SRHARNESS_REQUIRE"):
        env.pop(name, None)
    if weights_env is not None:         # the option's environment twin instead of the flag
        env["SRHARNESS_WEIGHTS"] = str(weights_env)
    work = tmp_path / "cwd"
    work.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider"], cwd=work,
                          capture_output=True, text=True, env=env, timeout=600)


def _golden_with_checkpoint(tmp_path: Path) -> Path:
    """The fixture golden and its checkpoint, made by the command the golden documents."""
    from srharness.zoo.seeded import make_checkpoint
    folder = tmp_path / "golden"
    folder.mkdir()
    shutil.copy(GOLDEN, folder / GOLDEN.name)
    make_checkpoint("Compact", folder / GOLDEN_CHECKPOINT, seed=0)
    return folder


# (architecture, file name, -k): the first also measures its golden figure; the others the
# export equivalence only (each run is a fresh process: CI's zoo job stays short). ESRGAN's file
# comes through the environment twin, SRHARNESS_WEIGHTS.
RUNS = {
    "Compact": (GOLDEN_CHECKPOINT, "onnxruntime_matches_torch or fidelity and ort-fp16 or test_figure"),
    "ESRGAN": ("esrgan_seed0_x4.pth", "onnxruntime_matches_torch"),
    "SPAN": ("span_seed0_x2.safetensors", "onnxruntime_matches_torch or guide_opset"),
}


@pytest.mark.parametrize("arch", sorted(RUNS))
def test_sr_weights_runs_the_generic_checks_on_a_checkpoint(tmp_path, arch):
    """`pytest -m cpu --sr-weights FILE` with no test path: the packaged checkpoint suite runs on the
    detected model and judges it (verdicts with the file's weights); the Compact one also judges the
    figure its golden records for those weights."""
    from srharness.zoo.seeded import make_checkpoint
    name, keyword = RUNS[arch]
    if arch == "Compact":
        folder = _golden_with_checkpoint(tmp_path)
        ckpt, more = folder / name, ["--sr-golden-dir", str(folder)]
    else:
        ckpt, more = make_checkpoint(arch, tmp_path / name), []
    summary = tmp_path / "summary.json"
    given = ["--sr-weights", str(ckpt)] if arch != "ESRGAN" else []
    proc = _pytest(tmp_path, "-m", "cpu and not perf", *given, "-k", keyword, f"--sr-summary-json={summary}", *more,
                   weights_env=ckpt if arch == "ESRGAN" else None)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    model = f"{arch.lower()}-{Path(name).stem}"
    assert f"srharness: {model}: detected" in out and "suites/checkpoint/test_checkpoint.py" in out
    verdicts = [v for v in json.loads(summary.read_text())["verdicts"] if v["model"] == model]
    ort = [v for v in verdicts if v["metric"] == "max_abs_diff"]
    assert ort and all(v["passed"] is True for v in ort), verdicts
    assert ort[0]["conditions"]["weights"] == str(ckpt.resolve())      # the file's weights, not a random init
    if arch == "SPAN":      # opset 17: PixelShuffle is DepthToSpace there; judged on the opset, the op recorded
        opset = [v for v in verdicts if v["metric"] == "opset"]
        assert len(opset) == 1 and opset[0]["passed"] is True and opset[0]["measured"] == 17, opset
        assert opset[0]["conditions"]["depth_to_space"] is True and "DepthToSpace allowed" in opset[0]["rule"]
    if arch == "Compact":
        fp16 = [v for v in verdicts if v["backend"] == "ort-fp16"]
        assert fp16 and fp16[0]["passed"] is True
        figure = [v for v in verdicts if v.get("golden_id") == "compact-seed0/x4/embedded/psnr/benchmark-recorded"]
        assert len(figure) == 1 and figure[0]["passed"] is True, figure
        assert abs(figure[0]["measured"] - 24.1862) <= 0.01


def test_sr_weights_refuses_a_hostile_pickle_before_spandrel(tmp_path):
    marker, seen = tmp_path / "pwned", tmp_path / "spandrel-saw-it"
    evil = tmp_path / "evil.pth"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)
    evil.write_bytes(pickle.dumps({"params": {"w": 1}, "x": Payload()}, protocol=2))
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "zoo_guard.py").write_text(           # spandrel's loader leaves a mark if it is ever reached
        "from pathlib import Path\nfrom srharness.zoo import detect\n"
        f"def _seen(*a):\n    Path({str(seen)!r}).touch()\n    raise SystemExit('spandrel saw it')\n"
        "detect._load_descriptor = _seen\n")
    proc = _pytest(tmp_path, "-m", "cpu", "--sr-weights", str(evil), "-p", "zoo_guard", extra_path=guard)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out                 # a usage error: nothing ran
    assert re.search(r"evil\.pth: refused", out) and "system" in out, out
    assert "Traceback" not in out
    assert not marker.exists() and not seen.exists()


def test_sr_weights_unknown_architecture_is_one_line(tmp_path):
    import torch
    odd = tmp_path / "odd.pth"
    torch.save({"stem.weight": torch.zeros(4, 3, 3, 3), "head.bias": torch.zeros(4)}, odd)
    proc = _pytest(tmp_path, "-m", "cpu", "--sr-weights", str(odd))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out
    line = next(x for x in out.splitlines() if "odd.pth" in x)
    assert "no architecture spandrel" in line and "tried: " in line and "Compact" in line
    assert "Traceback" not in out
    missing = _pytest(tmp_path, "-m", "cpu", "--sr-weights", str(tmp_path / "nope.pth"))
    assert missing.returncode == 4 and "nope.pth is not a checkpoint file" in missing.stdout + missing.stderr


# ---------------------------------------------------------------- a golden that names its weights
def test_golden_names_its_weights_and_gets_the_detected_model(tmp_path):
    from srharness.golden import load_file
    folder = _golden_with_checkpoint(tmp_path)
    (g,) = load_file(folder / GOLDEN.name)
    assert g.model == "compact-compact_seed0_x4"
    assert g.weights == str((folder / GOLDEN_CHECKPOINT).resolve())
    from srharness.models import get_model_spec
    spec = get_model_spec(g.model)
    assert spec.weights_file == g.weights and spec.scales == (4,)


def _edit(folder: Path, old: str, new: str) -> Path:
    path = folder / GOLDEN.name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("case, old, new, message", [
    ("wrong sha256", "sha256: 4314", "sha256: 5314", r"has sha256 4314\w+, the golden says 5314\w+: not the checkpoint"),
    ("bad sha256", "sha256: 4314", "sha256: XY14", r"sha256 'XY14\w+' is not 64 lowercase hex"),
    ("missing file", "{file: compact_seed0_x4", "{file: gone", r"weights: .*gone\.safetensors is not a file"),
    ("other model", "weights: {", "model: rdn\nweights: {", r"model 'rdn': its weights .* are detected as "
                                                             r"'compact-compact_seed0_x4'"),
    ("unknown key", "sha256: 4314", "sha: 1, sha256: 4314", r"weights: unknown key 'sha'"),
])
def test_golden_weights_are_checked(tmp_path, case, old, new, message):
    from srharness.golden import GoldenError, load_file
    path = _edit(_golden_with_checkpoint(tmp_path), old, new)
    with pytest.raises(GoldenError, match=message) as err:
        load_file(path)
    assert str(path) in str(err.value)


def test_golden_weights_hostile_pickle_is_refused(tmp_path, monkeypatch):
    from srharness.golden import GoldenError, load_file
    from srharness.zoo import detect
    folder = _golden_with_checkpoint(tmp_path)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)
    (folder / "evil.pth").write_bytes(pickle.dumps({"x": Payload()}, protocol=2))
    path = _edit(folder, "{file: compact_seed0_x4.safetensors, sha256: ", "{file: evil.pth, sha256: ")
    path.write_text(re.sub(r"sha256: [0-9a-f]{64}", "sha256: " + __import__("hashlib").sha256(
        (folder / "evil.pth").read_bytes()).hexdigest(), path.read_text(), count=1))
    monkeypatch.setattr(detect, "_load_descriptor", lambda *a: pytest.fail("spandrel saw a hostile file"))
    with pytest.raises(GoldenError, match=r"weights: .*evil\.pth: refused"):
        load_file(path)
    assert not marker.exists()


def test_a_golden_naming_its_weights_is_measured_without_sr_weights(tmp_path):
    """`pytest <suites>/checkpoint --sr-golden-dir DIR`: the figure of a golden that names its weights
    is measured with them; the same golden with a wrong sha256 stops the run, naming the file."""
    folder = _golden_with_checkpoint(tmp_path)
    suite = REPO / "suites" / "checkpoint"
    summary = tmp_path / "summary.json"
    proc = _pytest(tmp_path, str(suite), "-m", "cpu", "--sr-golden-dir", str(folder), f"--sr-summary-json={summary}")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    (figure,) = [v for v in json.loads(summary.read_text())["verdicts"] if v.get("golden_id")]
    assert figure["model"] == "compact-compact_seed0_x4" and figure["passed"] is True
    assert figure["conditions"]["weights"] == str((folder / GOLDEN_CHECKPOINT).resolve())
    path = _edit(folder, "sha256: 4314", "sha256: 5314")
    proc = _pytest(tmp_path, str(suite), "-m", "cpu", "--sr-golden-dir", str(folder))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4 and f"{path}: weights: " in out and "the golden says 5314" in out, out
    assert "Traceback" not in out
