"""The HTML report: finding Allure's generator, generating, stripping analytics."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from srharness.fileio import atomic_write_text

from .config import NightlyConfig
from .matrix_page import open_matrix_first
from .pytest_run import say
from .results import categories_for_allure3
from srharness import settings

ALLURE_ENV = "SRHARNESS_ALLURE"   # path of the `allure` executable when not on PATH
INSTALL_HINT = ("install Allure's report generator: `npm install allure` (Allure 3, needs Node 18+; put it on PATH, "
                f"in node_modules/ of the project, or point {ALLURE_ENV} at node_modules/.bin/allure), or "
                "Allure 2 `allure-commandline` (needs Java 17): https://allurereport.org/docs/install/")


# ---------------------------------------------------------------- report generation
@dataclass
class Generator:
    command: list[str]
    major: int            # 2 or 3


def find_generator() -> Generator | None:
    from srharness import resources
    # node_modules/ of the project: the clone srharness runs from, or (a wheel) the current folder
    project = resources.clone_root() or Path.cwd()
    candidates = [settings.env(ALLURE_ENV), shutil.which("allure"),
                  str(project / "node_modules" / ".bin" / "allure")]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            try:
                version = subprocess.run([c, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                continue
            m = re.search(r"(\d+)\.\d+", version)
            if m:
                return Generator([c], int(m.group(1)))
    return None


ANALYTICS_SCRIPT = re.compile(
    r"<script[^>]*googletagmanager[^>]*>\s*</script>\s*(<script>(?:(?!</script>).)*?gtag\((?:(?!</script>).)*?</script>)?",
    re.S | re.I)
ANALYTICS_MARKERS = ("googletagmanager", "gtag(", "google-analytics")


def strip_analytics(report_dir: Path) -> list[Path]:
    """Remove the analytics script Allure 3 embeds in its HTML; returns files that still hold one."""
    leftovers = []
    for page in report_dir.rglob("*.html"):
        text = page.read_text(encoding="utf-8", errors="surrogateescape")
        cleaned = ANALYTICS_SCRIPT.sub("", text)
        if cleaned != text:
            atomic_write_text(page, cleaned, errors="surrogateescape")
        if any(m in cleaned for m in ANALYTICS_MARKERS):
            leftovers.append(page)
    return leftovers


# Allure 3's Graphs section without its "Current status" pie: the pie divides passed by all results
# (skipped and XFAIL included) while the header ring divides by passed + failed + broken, so the
# same run read 90.9% in one and 66.67% in the other. The ring stays the one success rate; the
# figures judged / selected are on the first page.
REPORT_CHARTS = [
    {"type": "statusDynamics", "title": "Status dynamics"},
    {"type": "testResultSeverities", "title": "Test results by status", "levels": ["normal"],
     "statuses": ["passed", "failed", "broken", "skipped", "unknown"], "includeUnset": True},
    {"type": "statusTransitions", "title": "Status transitions"},
    {"type": "stabilityDistribution", "title": "Stability by model", "skipStatuses": ["skipped", "unknown"],
     "threshold": 90, "groupBy": "epic"},
    {"type": "durations", "title": "Durations histogram", "groupBy": "none"},
    {"type": "durationDynamics", "title": "Durations dynamics"},
]


def generate_report(cfg: NightlyConfig, gen: Generator) -> None:
    """Results + carried history -> HTML report in cfg.report_dir; history kept in cfg.history_dir."""
    results, report, history = cfg.results_dir, cfg.report_dir, cfg.history_dir
    history.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".allure-report-", dir=cfg.out_dir))
    env = dict(os.environ, ALLURE_NO_ANALYTICS="true")
    try:
        if gen.major >= 3:
            rc_file = staging.parent / ".allurerc.json"
            rc_file.write_text(json.dumps({
                "name": cfg.report_name, "output": str(staging), "historyPath": str(history / "history.jsonl"),
                "categories": categories_for_allure3(),
                "plugins": {"awesome": {"options": {"singleFile": cfg.single_file, "reportName": cfg.report_name,
                                                    "groupBy": ["epic", "feature", "story"],
                                                    "charts": REPORT_CHARTS}}},
            }), encoding="utf-8")
            cmd = gen.command + ["generate", str(results), "--config", str(rc_file), "--output", str(staging)]
        else:
            if any(history.iterdir()):
                shutil.copytree(history, results / "history", dirs_exist_ok=True)
            cmd = gen.command + ["generate", str(results), "--clean", "-o", str(staging)]
            if cfg.single_file:
                cmd.append("--single-file")
        say("srharness nightly: " + " ".join(cmd))
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"allure generate failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
        if gen.major < 3 and (staging / "history").is_dir():
            shutil.copytree(staging / "history", history, dirs_exist_ok=True)
        leftovers = strip_analytics(staging)
        if leftovers:
            raise RuntimeError(f"analytics script still present in {', '.join(map(str, leftovers))}")
        if gen.major >= 3:
            open_matrix_first(staging)
        staging.chmod(0o755)  # mkdtemp makes it private; a report is for reading
        if report.exists():
            shutil.rmtree(report)
        os.replace(staging, report)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
