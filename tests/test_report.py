"""srharness.report: no-op when Allure is off, labels/titles/attachments when on, the run summary."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from srharness import report
from srharness.records import Verdict

DEMO_TESTS = '''
import numpy as np, pytest
from srharness import report
from srharness.records import Verdict

@pytest.mark.cpu
@pytest.mark.accuracy
class TestAccuracy:
    model = "rdn"

    def test_psnr(self, sr_record):
        hr = np.linspace(0, 1, 16 * 16).reshape(16, 16)
        report.attach_image_panel("baby", sr=hr * 0.98, hr=hr, bicubic=hr * 0.9, psnr=36.5)
        report.attach_latency_plot("latency", [1.0, 1.2, 1.1, 0.9, 1.05])
        report.attach_json("op census", {"Conv": 3, "Relu": 2})
        report.attach_text("command line", "atc --model=rdn.onnx --framework=5")
        report.label(model="rdn", hardware="cpu")  # as a check might; must not double the automatic labels
        sr_record(Verdict(model="rdn", check="accuracy", metric="psnr", measured=38.27, golden=38.18,
                          golden_id="rdn/x2/set5/psnr/om", rule=">= -1%", passed=True, scale=2, dataset="Set5", backend="ascend-om",
                          hardware="cpu", unit="dB", protocol="y-shave"))

    def test_regression(self, sr_record):
        sr_record(Verdict(model="rdn", check="accuracy", metric="psnr", measured=30.0, golden=38.18,
                          golden_id="rdn/x2/set5/psnr/repo", rule=">= -1%", passed=False, scale=2, dataset="Set5", unit="dB"))
        assert False, "accuracy regression: psnr 30.0 below golden 38.18"

@pytest.mark.cpu
@pytest.mark.perf
class TestPerf:
    model = "srcnn"

    def test_fps(self, sr_record):
        sr_record(Verdict(model="srcnn", check="perf", metric="fps", measured=120.0, unit="fps"))
'''


def run_demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_demo.py").write_text(DEMO_TESTS)
    cmd = [sys.executable, "-m", "pytest", "test_demo.py", "-p", "srharness.plugin", "-p", "srharness.report",
           "-p", "no:cacheprovider", "--rootdir", str(tmp_path), *args]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def allure_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("allure_run")
    proc = run_demo(tmp, f"--alluredir={tmp / 'results'}", f"--sr-summary-json={tmp / 'out' / 'summary.json'}")
    results = [json.loads(p.read_text()) for p in (tmp / "results").glob("*-result.json")]
    return tmp, proc, {r["name"]: r for r in results}


def labels_of(result: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for lab in result["labels"]:
        out.setdefault(lab["name"], []).append(lab["value"])
    return out


def test_evidence_calls_are_noops_when_allure_is_off(monkeypatch):
    assert not report.active()

    def must_not_run(*a, **k):
        raise AssertionError("rendered evidence while Allure is off")
    monkeypatch.setattr(report, "image_panel_png", must_not_run)
    monkeypatch.setattr(report, "latency_plot_png", must_not_run)
    img = np.zeros((8, 8), np.uint8)
    report.label(model="rdn", check="accuracy")
    report.title("x")
    report.attach_text("log", "text")
    report.attach_json("census", {"Conv": 1})
    report.attach_file("/nonexistent/file.txt")
    report.attach_image_panel("panel", sr=img, hr=img, bicubic=img, psnr=1.0)
    report.attach_latency_plot("lat", [1.0])
    report.attach_verdict_table("t", [Verdict(model="rdn", check="accuracy", metric="psnr", measured=1.0)])
    # The cost a plain `pytest -m cpu` pays per call (printed, not asserted: -s shows it).
    n = 100_000
    start = time.perf_counter()
    for _ in range(n):
        report.attach_image_panel("panel", sr=img, hr=img, psnr=1.0)
    print(f"\ninactive attach_image_panel: {(time.perf_counter() - start) / n * 1e9:.0f} ns per call")


def test_run_with_allure_has_labels_titles_and_attachments(allure_run):
    tmp, proc, results = allure_run
    assert proc.returncode == 1, proc.stdout + proc.stderr
    title = "RDN x2 - cpu ascend om - Set5 - PSNR 38.27 vs golden 38.18 (rule: >= -1%)"
    assert title in results, sorted(results)
    passed = results[title]
    assert passed["status"] == "passed"
    labels = labels_of(passed)
    for name, value in {"model": "rdn", "check": "accuracy", "hardware": "cpu", "precision": "fp32",
                        "dataset": "Set5", "protocol": "y-shave", "backend": "ascend-om", "epic": "RDN"}.items():
        assert labels.get(name) == [value], (name, labels.get(name))
    names = {a["name"]: a for a in passed["attachments"]}
    assert {"baby", "latency", "op census", "command line", "measured vs golden (table)",
            "measured vs golden (csv)"} <= set(names)
    assert names["baby"]["type"] == "image/png"
    png = (tmp / "results" / names["baby"]["source"]).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    csv_text = (tmp / "results" / names["measured vs golden (csv)"]["source"]).read_text()
    assert csv_text.splitlines()[1].startswith("rdn,2,cpu,ascend-om,fp32,accuracy,Set5,y-shave,,psnr,38.27,38.18,dB,>= -1%,pass")
    failed = next(r for n, r in results.items() if n.endswith("FAIL"))
    assert failed["status"] == "failed"
    assert "accuracy regression" in failed["statusDetails"]["message"]


def test_test_without_golden_is_titled_as_information(allure_run):
    _, _, results = allure_run
    assert "SRCNN - cpu torch - FPS 120 fps" in results
    assert labels_of(results["SRCNN - cpu torch - FPS 120 fps"])["check"] == ["perf"]


def test_summary_json_and_terminal_table(allure_run):
    tmp, proc, _ = allure_run
    summary = json.loads((tmp / "out" / "summary.json").read_text())
    assert summary["tests"]["passed"] == 2 and summary["tests"]["failed"] == 1
    assert summary["figures"] == {"pass": 1, "fail": 1, "info": 1, "expected-fail": 0, "xpass": 0, "not-judged": 0}
    assert summary["matrix"] == {"rdn": {"cpu": {"accuracy": "fail"}}, "srcnn": {"cpu": {"perf": "info"}}}
    assert len(summary["verdicts"]) == 3
    assert summary["identity"]["host"] and summary["identity"]["git"] and summary["identity"]["timestamp"]
    assert "srharness summary: model x hardware x check" in proc.stdout
    assert "3 figures: 1 pass, 1 fail, 1 info; golden figures judged 2/2" in proc.stdout
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == ["model", "accuracy", "perf"])
    assert lines[header - 1].split() == ["cpu", "cpu"]
    assert lines[header + 2].split() == ["rdn", "FAIL", "2/2"]
    assert lines[header + 3].split() == ["srcnn", "info", "(1)"]
    figures = next(i for i, line in enumerate(lines) if line.split()[:8] == ["verdict", "model", "x", "hw", "backend",
                                                                             "prec", "protocol", "metric"])
    assert "y-shave" in lines[figures + 2]       # the protocol column
    assert max(len(line) for line in lines[header - 2:figures + 6]) <= 120


def test_summary_without_allure_still_prints(tmp_path):
    proc = run_demo(tmp_path, "-k", "fps")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.split()[:2] == ["info", "srcnn"] and "fps" in line)
    assert "120" in row.split()
    assert not list(tmp_path.glob("**/*-result.json"))


def test_verdict_title_and_matrix_rules():
    v = Verdict(model="rcan-sr4k", check="perf", metric="fps", measured=50.0, golden=40.0, rule="> golden",
                passed=False, hardware="vacc", backend="vacc", unit="fps", scale=4)
    assert report.verdict_title(v) == "RCAN-sr4k x4 - vacc - FPS 50 fps vs golden 40 (rule: > golden) FAIL"
    ok = Verdict(model="rcan-sr4k", check="perf", metric="latency", measured=1.0, passed=True, hardware="vacc")
    assert report.summary_matrix([ok, v, ok]) == {"rcan-sr4k": {"vacc": {"perf": "fail"}}}


def test_image_panel_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="differs from HR shape"):
        report.image_panel_png(sr=np.zeros((4, 4)), hr=np.zeros((5, 5)))
    png = report.image_panel_png(sr=np.zeros((3, 6, 6), np.float32), hr=np.ones((6, 6, 3), np.uint8) * 200, psnr=3.0)
    assert png[:4] == b"\x89PNG"


MULTI_FIGURE_TEST = '''
import numpy as np, pytest
from srharness import report
from srharness.records import Verdict

@pytest.mark.cpu
@pytest.mark.accuracy
class TestAccuracy:
    model = "vdsr"

    def test_three_scales(self, sr_record):
        hr = np.linspace(0, 1, 16 * 16).reshape(16, 16)
        for scale, value in ((2, 37.59), (3, 33.71), (4, 31.38)):
            report.attach_image_panel(f"x{scale} baby", sr=hr * 0.98, hr=hr, psnr=value)
            sr_record(Verdict(model="vdsr", check="accuracy", metric="psnr", measured=value, golden=value + 0.05,
                              golden_id=f"vdsr/x{scale}", rule=">= -1%", passed=True, scale=scale, dataset="set5",
                              protocol="benchmark", unit="dB"))
'''


def test_a_result_holding_several_figures_lists_them_all_and_leads_with_its_verdict_table(tmp_path):
    (tmp_path / "test_demo.py").write_text(MULTI_FIGURE_TEST)
    cmd = [sys.executable, "-m", "pytest", "test_demo.py", "-p", "srharness.plugin", "-p", "srharness.report",
           "-p", "no:cacheprovider", "--rootdir", str(tmp_path), f"--alluredir={tmp_path / 'results'}"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(next((tmp_path / "results").glob("*-result.json")).read_text())
    params = {p["name"]: p["value"] for p in result["parameters"]}
    assert params["scale"] == "'x2, x3, x4'" and params["protocol"] == "'benchmark'", params
    assert result["name"].startswith("VDSR x2, x3, x4 - cpu torch fp32 - 3 PSNR figures (benchmark): 3 pass"), \
        result["name"]
    names = [a["name"] for a in result["attachments"]]
    assert names[:3] == ["measured vs golden (table)", "protocol conventions and deviations",
                         "measured vs golden (csv)"], names
    conventions = (tmp_path / "results" / result["attachments"][1]["source"]).read_text()
    assert "benchmark x2" in conventions and "benchmark x4" in conventions
    table = (tmp_path / "results" / result["attachments"][0]["source"]).read_text()
    assert table.count("<tr>") == 4 and 'name="srharness-height"' in table


SECTION_TEST = '''
from srharness import report

def test_table(record_property):
    record_property(*report.section("Deployability table", "<table><tr><td>Compact</td></tr></table>",
                                    {"summary": {"rows": 1}, "rows": [{"arch": "Compact", "verdict": "pass"}]}))
'''


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_a_section_is_its_own_report_page_and_in_the_summary(tmp_path, workers):
    """report.section: an Allure global attachment (the first page's attachments, beside the
    conformance matrix) and the summary JSON's sections[name], from an xdist worker too."""
    (tmp_path / "test_demo.py").write_text(SECTION_TEST)
    summary = tmp_path / "summary.json"
    cmd = [sys.executable, "-m", "pytest", "test_demo.py", "-p", "srharness.plugin", "-p", "srharness.report",
           "-p", "no:cacheprovider", "--rootdir", str(tmp_path), f"--alluredir={tmp_path / 'results'}",
           f"--sr-summary-json={summary}", *workers]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(summary.read_text())
    assert doc["sections"]["Deployability table"]["rows"] == [{"arch": "Compact", "verdict": "pass"}]
    (globals_doc,) = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*-globals.json")]
    (att,) = globals_doc["attachments"]
    assert att["name"] == "Deployability table" and att["type"] == "text/html"
    assert "Compact" in (tmp_path / "results" / att["source"]).read_text()
