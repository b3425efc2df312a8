"""The nightly report as a person sees it: generate it from a small real run, render it in headless
Chromium, check the counts it shows match the run, and keep a screenshot.

Skips with a reason where Chromium or Allure's generator is missing. SRHARNESS_SCREENSHOT_DIR: also
copy the screenshots there.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from srharness import nightly

pytestmark = pytest.mark.slow

DEMO_TESTS = '''
import numpy as np, pytest
from srharness import report
from srharness.records import Verdict

@pytest.mark.cpu
@pytest.mark.accuracy
class TestAccuracy:
    model = "srcnn"

    def test_psnr(self, sr_record):
        hr = np.linspace(0, 1, 32 * 32).reshape(32, 32)
        report.attach_image_panel("woman", sr=hr * 0.97, hr=hr, bicubic=hr * 0.9, psnr=33.1)
        sr_record(Verdict(model="srcnn", check="accuracy", metric="psnr", measured=33.1, golden=32.9,
                          rule=">= -1% relative, one-sided", passed=True, scale=2, dataset="Set5", unit="dB"))

    def test_regression(self, sr_record):
        sr_record(Verdict(model="srcnn", check="accuracy", metric="psnr", measured=25.0, golden=32.9,
                          rule=">= -1% relative, one-sided", passed=False, scale=2, dataset="Set5", unit="dB"))
        assert False, "accuracy regression: psnr 25.0 below golden 32.9"

@pytest.mark.cpu
@pytest.mark.perf
class TestPerf:
    model = "srcnn"

    def test_latency(self, sr_record):
        report.attach_latency_plot("latency", [2.0, 2.1, 1.9, 2.4, 2.0])
        sr_record(Verdict(model="srcnn", check="perf", metric="latency", measured=2.0, unit="ms"))

    def test_not_here(self):
        pytest.skip("no trtexec on PATH")

@pytest.mark.cpu
@pytest.mark.accuracy
class TestRdn:
    model = "rdn"

    def test_psnr(self, sr_record):
        sr_record(Verdict(model="rdn", check="accuracy", metric="psnr", measured=None, golden=38.18,
                          golden_id="rdn/x2/set5/psnr/repo", scale=2, protocol="rdn-yjn870", dataset="set5",
                          not_judged="no official RDN weights in the weights dir"))
'''


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def browse(url: str, profile: Path, *args: str) -> str:
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--window-size=1400,1000", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


def shown_counts(dom: str) -> dict[str, int]:
    """Counts in the report's header: Total, Failed, Passed, Skipped, Broken."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(
        r'data-testid="metadata-item-(\w+)".*?<span[^>]*>(\d+)</span>', dom, re.S)}


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    if chromium() is None:
        pytest.skip("Chromium not installed (apt-get install -y chromium)")
    if nightly.find_generator() is None:
        pytest.skip(f"no Allure generator: {nightly.INSTALL_HINT}")
    tmp = tmp_path_factory.mktemp("browser")
    (tmp / "conftest.py").write_text('pytest_plugins = ("srharness.plugin", "srharness.report")\n')
    (tmp / "test_demo.py").write_text(DEMO_TESTS)
    (tmp / "nightly.yaml").write_text("suites: [test_demo.py]\nrequire: []\nout_dir: out\nsingle_file: true\n")
    cfg = nightly.load_config(tmp / "nightly.yaml")
    rc = nightly.run_nightly(cfg)
    return tmp, cfg, rc, json.loads(cfg.summary_json.read_text())


def test_report_shows_the_counts_of_the_run(report_run):
    tmp, cfg, rc, summary = report_run
    assert rc == 1  # one test failed
    index = cfg.report_dir / "index.html"
    html = index.read_text(encoding="utf-8")
    assert not any(marker in html for marker in nightly.ANALYTICS_MARKERS)
    dom = browse(index.as_uri() + "#/", tmp / "profile", "--dump-dom")   # the results tree, not the first page
    tests = summary["tests"]
    shown = shown_counts(dom)
    assert shown["total"] == tests["passed"] + tests["failed"] + tests["skipped"] == 5, shown
    assert shown["passed"] == tests["passed"] == 3 and shown["failed"] == tests["failed"] == 1, shown
    assert shown.get("skipped") == tests["skipped"] == 1, shown
    titles = re.findall(r'data-testid="tree-leaf-title"[^>]*>([^<]*)<', dom)
    assert "SRCNN x2 - cpu torch - Set5 - PSNR 33.1 vs golden 32.9 (rule: &gt;= -1% relative, one-sided)" in titles
    shot = tmp / "report.png"
    browse(index.as_uri(), tmp / "profile", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("SRHARNESS_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["SRHARNESS_SCREENSHOT_DIR"]) / "report-browser-test.png")


def test_test_page_lists_the_evidence(report_run):
    tmp, cfg, _, _ = report_run
    index = cfg.report_dir / "index.html"
    dom = browse(index.as_uri() + "#/", tmp / "profile", "--dump-dom")
    leaf = re.search(r'data-testid="tree-leaf" type="button" id="(\w+)"[^>]*>.*?tree-leaf-title[^>]*>SRCNN x2 - cpu '
                     r'torch - Set5 - PSNR 33.1', dom, re.S)
    assert leaf, "passing PSNR test not found in the tree"
    page = browse(index.as_uri() + f"#/{leaf.group(1)}/attachments", tmp / "profile", "--dump-dom")
    for name in ("woman", "measured vs golden (table)", "measured vs golden (csv)"):
        assert f">{name}<" in page, name
    # the verdict table leads the evidence, the protocol's conventions beside it; the image panels follow
    names = re.findall(r'<span class="paragraphs-text-m[^"]*">([^<]+)</span>', page)
    evidence = [n for n in names if n in ("woman", "measured vs golden (table)", "measured vs golden (csv)")]
    assert evidence[0] == "measured vs golden (table)", evidence


def test_report_opens_on_the_conformance_matrix_and_the_coverage_account(report_run):
    """The first page a team lead sees, in a fresh browser: the matrix and the figures not judged."""
    tmp, cfg, _, summary = report_run
    page = (cfg.out_dir / nightly.MATRIX_PAGE).read_text()
    assert "Conformance matrix" in page and "Coverage: 1 golden figure(s) not judged" in page
    assert "rdn/x2/set5/psnr/repo" in page and "no official RDN weights in the weights dir" in page
    index = cfg.report_dir / "index.html"
    dom = browse(index.as_uri(), tmp / "fresh-profile", "--dump-dom")
    assert re.search(r'aria-selected="true"[^>]*>[^<]*Global Attachments|Global Attachments', dom)
    assert nightly.MATRIX_ATTACHMENT in dom
    preview = re.search(r'data-testid="html-attachment-preview".*?<iframe[^>]*style="height: (\d+)px', dom, re.S)
    assert preview, "the matrix is not open on the first page"
    assert int(preview.group(1)) >= 600, "the matrix opens in a box too small to read"
    shot = tmp / "first-page.png"
    browse(index.as_uri(), tmp / "fresh-profile-2", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("SRHARNESS_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["SRHARNESS_SCREENSHOT_DIR"]) / "report-first-page.png")
