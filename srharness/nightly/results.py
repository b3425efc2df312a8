"""The Allure results directory: environment, categories, failed-result records, clean start."""

from __future__ import annotations

import json
import platform
import re
import shutil
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

from srharness.hardware import HARDWARE, detect
from srharness.report.history import git_commit

from .config import NightlyConfig, NightlyConfigError

HARDWARE_MISSING_PREFIX = "required hardware missing"

# Allure categories, matched against our failure messages (see checks and srharness.plugin).
CATEGORIES = [
    # srharness.farm.merge: a shard whose host died, timed out or never finished.
    {"name": "Farm shard lost", "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"(?s).*\bfarm shard \S+ (lost|incomplete)\b.*"},
    {"name": "Hardware missing", "matchedStatuses": ["failed", "broken", "skipped"],
     "messageRegex": r"(?s).*(required hardware (missing|test skipped)|required hardware .* had no test).*"},
    # srharness.checks.figures skips a golden figure it cannot judge with "not judged: <reason>".
    {"name": "Not judged", "matchedStatuses": ["skipped"], "messageRegex": r"(?s).*\bnot judged: .*"},
    {"name": "Tool failure", "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"(?s).*(ToolError|LogParseError|CalledProcessError|TimeoutExpired|command not found"
                     r"|tool (failed|failure|error)|\b(atc|trtexec|ais_bench|benchmark|vamc|vamp|pytest) "
                     r"(failed|error|exited|timed out)|exit (code|status) \d+|malformed .*log|did not complete).*"},
    {"name": "Accuracy regression", "matchedStatuses": ["failed"],
     "messageRegex": r"(?s).*(accuracy regression|\b(psnr|ssim|PSNR|SSIM)\b|\bdB\b).*"},
    {"name": "Performance regression", "matchedStatuses": ["failed"],
     "messageRegex": r"(?s).*(performance regression|\b(fps|qps|latency|throughput)\b|does not exceed).*"},
    {"name": "Export / graph violation", "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"(?s).*(export|opset|graph|onnx|ONNX|DepthToSpace|static axes|dynamic (shape|axes)"
                     r"|op census|rewrite|differs from torch).*"},
]


LIBRARIES = ("torch", "onnx", "onnxruntime", "onnxscript", "numpy", "pytest", "pytest-xdist", "allure-pytest",
             "opencv-python-headless", "scikit-image")


def categories_for_allure3() -> list[dict[str, Any]]:
    """The same categories for Allure 3's config: JavaScript regexes search (no full match, no `(?s)`)."""
    out = []
    for c in CATEGORIES:
        regex = c["messageRegex"].removeprefix("(?s).*").removesuffix(".*")
        out.append({**c, "messageRegex": regex})
    return out


VENDOR_TOOLS = ("atc", "benchmark", "ais_bench", "npu-smi", "vamc", "vamp", "vasmi", "trtexec", "nvidia-smi")


# ---------------------------------------------------------------- Allure results side files
def _properties_escape(text: str, key: bool = False) -> str:
    text = str(text).replace("\\", "\\\\").replace("\n", "\\n")
    return re.sub(r"([=:\s])", r"\\\1", text) if key else text


def environment_properties(cfg: NightlyConfig) -> dict[str, str]:
    env = {"python": platform.python_version(), "platform": platform.platform(), "host": platform.node()}
    for lib in LIBRARIES:
        try:
            env[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            env[lib] = "not installed"
    for tool in VENDOR_TOOLS:
        found = shutil.which(tool)
        if found:
            env[f"tool.{tool}"] = found
    for hw in HARDWARE:
        d = detect(hw)
        env[f"device.{hw}"] = (", ".join(d.found) or "present") if d.present else f"absent ({d.reason})"
    env["git.commit"] = git_commit(cfg.root)
    env["required"] = ",".join(cfg.require) or "(none)"
    env["suites"] = " ".join(cfg.suites)
    if cfg.markers:
        env["markers"] = cfg.markers
    return env


def write_environment(results: Path, env: dict[str, str]) -> None:
    lines = [f"{_properties_escape(k, key=True)}={_properties_escape(v)}" for k, v in env.items()]
    (results / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_categories(results: Path) -> None:
    (results / "categories.json").write_text(json.dumps(CATEGORIES, indent=2), encoding="utf-8")


def write_failed_result(results: Path, name: str, message: str, trace: str = "", labels: dict[str, str] | None = None,
                        status: str = "failed") -> None:
    """An Allure result for something that failed outside any test (hardware missing, pytest unusable)."""
    import time
    now = int(time.time() * 1000)
    full_name = "srharness.nightly#" + re.sub(r"\W+", "_", name)
    result = {
        "uuid": str(uuid.uuid4()), "historyId": uuid.uuid5(uuid.NAMESPACE_URL, full_name).hex,
        "name": name, "fullName": full_name, "status": status,
        "statusDetails": {"message": message, "trace": trace}, "start": now, "stop": now, "stage": "finished",
        "labels": [{"name": k, "value": v} for k, v in {"parentSuite": "nightly", "suite": "hardware coverage",
                                                        "framework": "srharness", **(labels or {})}.items()],
    }
    (results / f"{result['uuid']}-result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")


def prepare_results_dir(results: Path) -> None:
    """A fresh results folder each night; refuses to empty a folder that is not Allure results."""
    if results.exists():
        allowed = re.compile(r"^([0-9a-f-]{36}-(result|container|attachment|globals)\.\w+|environment\.properties"
                             r"|categories\.json|executor\.json|history|pytest-output\.txt|allurerc\.json)$")
        strangers = [p.name for p in results.iterdir() if not allowed.match(p.name)]
        if strangers:
            raise NightlyConfigError(f"{results} holds files that are not Allure results ({', '.join(strangers[:5])}); "
                                     "point out_dir at a folder of its own")
        shutil.rmtree(results)
    results.mkdir(parents=True)
