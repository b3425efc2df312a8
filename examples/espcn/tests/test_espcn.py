"""ESPCN through srharness's reusable checks: export conformance, CPU fidelity of the compiled
variants, the protocols' plumbing, task accuracy against this project's golden (golden/espcn.yaml),
CPU performance, and one item per golden figure. No pytest_plugins line: srharness's pytest11 entry point loads the plugin,
and this project's `srharness.plugins` entry point registers the model."""
import pytest

from srharness.checks.accuracy import AccuracyChecks
from srharness.checks.export import ExportChecks
from srharness.checks.figures import GoldenFigures
from srharness.checks.perf import PerfChecks

pytestmark = [pytest.mark.cpu]


class TestExport(ExportChecks):
    model = "espcn"
    scale = 3


class TestAccuracy(AccuracyChecks):
    model = "espcn"
    scale = 3


class TestFigures(GoldenFigures):
    """One item per figure of golden/espcn.yaml, measured and judged with its own rule."""
    models = ("espcn",)


class TestPerf(PerfChecks):
    model = "espcn"
    scale = 3


def test_the_model_is_registered_from_this_project():
    from srharness.registry import MODELS
    spec = MODELS["espcn"]
    assert spec.registered_by == "espcn_example.plugin"
    assert spec.input_kind == "y-lr"


def test_diagnose_and_repair_work_on_this_projects_model(tmp_path):
    """`srharness diagnose` on a user's model: the int8 (Entropy) variant agrees with torch to 47.5 dB
    on the embedded images; under a 50 dB agreement floor the repair finds the one node to keep in
    float (the first conv, whose input is the image itself) in 5 figure runs."""
    from pathlib import Path

    import espcn_example
    from srharness.diagnose import DiagnoseConfig, diagnose
    weights = Path(espcn_example.__file__).parent / "weights" / "espcn" / "espcn_x3.pth"
    cfg = DiagnoseConfig(model="espcn", scale=3, backend="ort-int8-entropy", weights=str(weights),
                         rule="agreement:50", out_dir=str(tmp_path / "fix"), work_dir=str(tmp_path / "work"))
    r = diagnose(cfg, repair=True)
    assert not r["figure"]["before"]["passed"]
    introduced = max((n for n in r["nodes"] if n.get("gain_db") is not None), key=lambda n: n["gain_db"])
    assert introduced["node"] == "/features/features.0/Conv" and introduced["origin"] == "introduced"
    rep = r["repair"]
    assert rep["excluded_nodes"] == ["/features/features.0/Conv"] and rep["candidates"] == 6
    assert rep["passed"] and rep["after"]["passed"] and rep["after"]["psnr"] >= 50
    assert rep["reruns"] <= rep["rerun_bound"]
    assert Path(rep["fix"]["ort"]["file"]).is_file()
