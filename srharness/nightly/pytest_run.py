"""Running pytest over the suites, its output to stdout or (under --json) stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .config import NightlyConfig

_quiet_stdout = False   # --json: stdout carries only the JSON document; progress and pytest's output go to stderr


def say(text: str) -> None:
    print(text, file=sys.stderr if _quiet_stdout else sys.stdout, flush=True)


# ---------------------------------------------------------------- pytest
def pytest_command(cfg: NightlyConfig) -> list[str]:
    cmd = [sys.executable, "-m", "pytest", *cfg.suites, f"--alluredir={cfg.results_dir}",
           f"--sr-summary-json={cfg.summary_json}", "-p", "no:cacheprovider"]
    if cfg.require:
        cmd.append(f"--sr-require={','.join(cfg.require)}")
    if cfg.markers:
        cmd += ["-m", cfg.markers]
    if cfg.keyword:
        cmd += ["-k", cfg.keyword]
    for flag, value in (("--sr-data-dir", cfg.data_dir), ("--sr-weights-dir", cfg.weights_dir),
                        ("--sr-golden-dir", cfg.golden_dir), ("--sr-weights", cfg.weights)):
        if value is not None:
            cmd.append(f"{flag}={value}")
    if cfg.workers:
        cmd += ["-n", cfg.workers]
    # every run archived with its identity; compared with the previous one on this host and hardware
    cmd.append(f"--sr-history-dir={cfg.history_dir}")
    if cfg.compare_fail:
        cmd.append(f"--sr-compare-fail={cfg.compare_fail}")
    if cfg.require_figures:
        cmd.append("--sr-require-figures")
    return cmd + cfg.pytest_args


def run_pytest(cfg: NightlyConfig, cmd: list[str], log_path: Path) -> tuple[int, str]:
    """Run pytest, echo its output live, keep all of it in `log_path`; returns (exit code, output)."""
    print("srharness nightly: " + " ".join(cmd), file=sys.stderr if _quiet_stdout else sys.stdout, flush=True)
    env = dict(os.environ)
    for name in ("SRHARNESS_REQUIRE", "SRHARNESS_SUMMARY_JSON", "SRHARNESS_HISTORY_DIR", "SRHARNESS_COMPARE_FAIL",
                 "SRHARNESS_REQUIRE_FIGURES"):
        env.pop(name, None)  # resolved once by load_config (env > YAML) and passed as flags above
    chunks = []
    with subprocess.Popen(cmd, cwd=cfg.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            (sys.stderr if _quiet_stdout else sys.stdout).write(line)
            chunks.append(line)
        rc = proc.wait()
    output = "".join(chunks)
    log_path.write_text(output, encoding="utf-8")
    return rc, output
