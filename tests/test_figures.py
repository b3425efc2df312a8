"""The generic golden-figure pipeline (srharness.figures): which figures become items, on which
hardware, and that each ends in exactly one verdict: judged, or not judged with its reason. The
card path is checked to fail when its post-processing is wrong (the fake vamc/vamp compute with
onnxruntime, so the numbers are real)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from srharness.figures import FigureEnv, NotJudged, figure_hardware, figures_of, measure_figure, resolve_backend
from srharness.golden import load_goldens

ROOT = Path(__file__).resolve().parent.parent
FAKES = ROOT / "fixtures" / "fake_tools"
GOLDENS = load_goldens(ROOT / "golden")


def _data_dir() -> Path | None:
    value = os.environ.get("SRHARNESS_DATA_DIR") or str(ROOT.parent / "shared" / "data")
    return Path(value) if (Path(value) / "set5" / "hr").is_dir() else None


def test_figures_of_a_model_are_its_accuracy_and_model_figures():
    ids = {g.id for g in figures_of(GOLDENS, "vdsr")}
    assert "vdsr/x4/set5/psnr/vacc-fp16" in ids and "vdsr/x4/params/count/guide" in ids
    assert all(g.model == "vdsr" for g in figures_of(GOLDENS, "vdsr"))
    rcan = {g.id for g in figures_of(GOLDENS, ("rcan-sr4k",))}
    assert "rcan-sr4k/x2/div2k-valid/psnr/vacc-int8-max" in rcan
    assert not any("/perf/" in i for i in rcan), "fps figures belong to the perf checks"


@pytest.mark.parametrize("gid, backend, hardware", [
    ("vdsr/x4/set5/psnr/vacc-fp16", "vacc-fp16", "vacc"),
    ("vdsr/x4/set5/psnr/vacc-int8-kl", "vacc-int8-kl", "vacc"),            # vamc calibrate_mode in conditions
    ("rcan-sr4k/x2/div2k-valid/psnr/vacc-int8-max", "vacc-int8-max", "vacc"),
    ("rdn/x2/set5/psnr/ascend-om", "ascend-om", "ascend"),
    ("vdsr/x2/set5/psnr/upstream-readme", "torch", "cpu"),                   # published on a GPU: torch fp32
    ("vdsr/x4/set5/psnr/cpu-ort-int8-entropy-recorded", "ort-int8-entropy", "cpu"),
])
def test_backend_and_hardware_of_a_figure(gid, backend, hardware):
    g = GOLDENS.get(gid)
    assert resolve_backend(g)[0] == backend
    assert figure_hardware(g) == hardware


def test_a_setup_srharness_does_not_run_is_named():
    with pytest.raises(NotJudged, match="vaststreamx"):
        resolve_backend(GOLDENS.get("vdsr/x4/set5/psnr/vsx-runstream-fp16"))


@pytest.mark.parametrize("gid, data, reason", [
    ("vdsr/x4/set5/psnr/paper", True, "reference only"),
    ("vdsr/x4/set5/psnr/vacc-guide-torch", False, "no data"),
    ("rdn/x2/set5/psnr/repo", True, "no weights"),
    ("rcan-sr4k/x2/div2k-valid/psnr/vacc-int8-max", True, "no data"),
    ("vdsr/x4/set5/psnr/vsx-runstream-int8", True, "not a srharness backend"),
])
def test_not_judged_figures_end_in_one_verdict_with_the_reason(gid, data, reason, tmp_path):
    data_dir = _data_dir() if data else None
    if data and data_dir is None:
        pytest.skip("needs the shared data (SRHARNESS_DATA_DIR)")
    env = FigureEnv(data_dir, data_dir / "weights" if data_dir else None, tmp_path)
    v = measure_figure(GOLDENS.get(gid), env, GOLDENS)
    assert v.verdict == "not-judged" and reason in v.not_judged, v.not_judged
    assert v.golden_id == gid and v.measured is None


def test_parameter_count_figure_is_measured(tmp_path):
    v = measure_figure(GOLDENS.get("vdsr/x4/params/count/guide"), FigureEnv(None, None, tmp_path), GOLDENS)
    assert v.verdict == "pass" and v.conditions["parameters"] == 664_704


def test_a_card_skipped_figure_still_ends_in_a_not_judged_verdict(tmp_path):
    """No vamp on PATH: every vacc figure item skips in setup (no card) and still records its
    one verdict, so the summary JSON accounts for it."""
    from srharness.hardware import detect
    if detect("vacc").present:
        pytest.skip("a VastAI card (or the fake tools) is visible here")
    out = tmp_path / "summary.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SRHARNESS_", "PYTEST_XDIST"))}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "vacc",
                           "suites/vdsr/test_figures.py", "--sr-summary-json", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verdicts = [v for v in json.loads(out.read_text())["verdicts"] if v.get("golden_id")]
    vacc_ids = {g.id for g in figures_of(GOLDENS, "vdsr") if figure_hardware(g) == "vacc"}
    assert sorted(v["golden_id"] for v in verdicts) == sorted(vacc_ids)      # exactly one each
    assert all(v["verdict"] == "not-judged" and v["not_judged"].startswith("no card: vacc hardware not found")
               for v in verdicts)


@pytest.fixture
def fake_vacc(monkeypatch):
    monkeypatch.setenv("PATH", os.pathsep.join([str(FAKES), str(Path(sys.executable).parent),
                                                os.environ.get("PATH", "")]))


@pytest.mark.slow
def test_vacc_figure_fails_when_the_card_path_postprocessing_is_wrong(fake_vacc, tmp_path, monkeypatch):
    """VDSR vacc fp16 on Set5 through vamc/vamp (fakes): 30.93 dB passes against 30.956; the
    same run with the npz outputs read transposed (a post-processing slip) fails the rule."""
    data_dir = _data_dir()
    if data_dir is None:
        pytest.skip("needs the shared data and the official VDSR weights (SRHARNESS_DATA_DIR)")
    g = GOLDENS.get("vdsr/x4/set5/psnr/vacc-fp16")
    good = measure_figure(g, FigureEnv(data_dir, data_dir / "weights", tmp_path / "good"), GOLDENS)
    assert good.verdict == "pass" and 30.6 < good.measured < 31.2, good.notes

    from srharness.tools import vacc as tools
    real = tools.read_npz_outputs

    def transposed(path_output, input_paths):
        return [np.ascontiguousarray(np.swapaxes(o, -1, -2)) for o in real(path_output, input_paths)]
    monkeypatch.setattr(tools, "read_npz_outputs", transposed)
    bad = measure_figure(g, FigureEnv(data_dir, data_dir / "weights", tmp_path / "bad"), GOLDENS)
    assert bad.verdict == "fail" and bad.measured < good.measured - 3, bad.notes


def test_tolerances_are_data_with_rules_and_rationale(tmp_path):
    from srharness.checks.hardware import MIN_AGREEMENT_PSNR_DB
    from srharness.tolerances import ToleranceError, load_tolerances, tolerance
    assert MIN_AGREEMENT_PSNR_DB == {"fp32": 60.0, "fp16": 40.0, "int8": 25.0}
    for t in load_tolerances().values():
        assert t.rationale and t.rule in ("floor", "range")
    assert tolerance("agreement").describe("int8").startswith(">= 25 dB")
    bad = tmp_path / "t.yaml"
    bad.write_text("agreement: {rule: floor, values: {fp16: forty}, rationale: x}\n")
    with pytest.raises(ToleranceError, match="agreement: values must map names to numbers"):
        load_tolerances(bad)
    with pytest.raises(ToleranceError, match="no tolerance 'agreemnt'"):
        tolerance("agreemnt")


def test_a_failing_card_tool_is_an_error_not_a_figure(fake_vacc, tmp_path, monkeypatch):
    """vamc exits 1: the figure is not silently not-judged; the measurement raises with the tool's error."""
    from srharness.tools.process import ToolError
    data_dir = _data_dir()
    if data_dir is None:
        pytest.skip("needs the shared data and the official VDSR weights (SRHARNESS_DATA_DIR)")
    monkeypatch.setenv("SRHARNESS_FAKE_FAIL", "vamc")
    with pytest.raises(ToolError, match="vamc"):
        measure_figure(GOLDENS.get("vdsr/x4/set5/psnr/vacc-fp16"),
                       FigureEnv(data_dir, data_dir / "weights", tmp_path), GOLDENS)
