"""Who ran a shard: host name, cards (model and count) per hardware, driver/toolkit versions,
srharness and git versions. Written into every shard's shard.json and stamped on its results."""
from __future__ import annotations

import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from srharness.hardware import HARDWARE, _tool_output, detect
from srharness.report.history import HOST_ENV, host_name as raw_host_name  # noqa: F401  (HOST_ENV: node, launcher)

# Ray node labels and shard folder names allow letters, digits, '-', '_' and '.'.
HOST_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def host_name() -> str:
    name = raw_host_name()   # the same name the run identity records, made safe for Ray and folders
    if not HOST_NAME_RE.match(name):
        name = re.sub(r"[^A-Za-z0-9_.-]", "-", name).strip("-.")[:63] or "unknown-host"
    return name


def check_host_name(name: str) -> str:
    if not HOST_NAME_RE.match(name):
        raise ValueError(f"host name {name!r}: use 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit")
    return name


# `npu-smi info` rows: "| 0       310P3     | OK              | ..." (NPU id, chip name, health).
_NPU_ROW = re.compile(r"^\|\s*(\d+)\s+([A-Za-z0-9]+)\s*\|\s*(OK|Warning|Alarm|Critical|Abnormal)\b", re.M)


def cards(hw: str) -> tuple[str, int]:
    """(card model, device count) of hardware `hw` on this host; count 0 when absent."""
    d = detect(hw)
    if not d.present:
        return "", 0
    if hw == "cpu":
        return platform.processor() or platform.machine() or "cpu", 1
    if hw == "cuda":
        listed = d.found.get("nvidia-smi -L", "")
        names = [re.sub(r"^GPU \d+:\s*", "", g).split(" (UUID")[0] for g in listed.split("; ") if g]
        if not names and d.found.get("devices"):
            names = [n.strip() for n in d.found["devices"].split(",")]
        return (names[0] if names else "NVIDIA GPU"), max(1, len(names))
    if hw == "ascend":
        rows = _NPU_ROW.findall(_tool_output(["npu-smi", "info"]) or "")
        return ("Ascend" + rows[0][1] if rows else "Ascend NPU"), max(1, len(rows))
    if hw == "vacc":
        # vasmi lists cards on a real host; without it (or on the fakes) one card is what `vamp` can address.
        listed = _tool_output(["vasmi", "list"]) if d.found.get("vasmi") else None
        count = len(re.findall(r"^\s*\d+\s", listed or "", re.M))
        return "VastAI", max(1, count)
    return hw, 1


def resources() -> dict[str, int]:
    """What this host offers, as Ray custom resources: {"cpu": 1, "ascend": 1, ...} (device counts)."""
    out = {}
    for hw in HARDWARE:
        _, count = cards(hw)
        if count:
            out[hw] = count
    return out


def git_commit(root: Path) -> str:
    from srharness.nightly import git_commit as commit
    return commit(root)


def shard_identity(hw: str, root: Path) -> dict[str, Any]:
    """The identity one shard carries: the host, the card it ran on, and the versions that make its figures."""
    model, count = cards(hw)
    d = detect(hw)
    try:
        version = metadata.version("srharness")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "host": host_name(),
        "hardware": hw,
        "card": f"{model} x{count}" if count else f"absent ({d.reason})",
        "card_model": model, "card_count": count,
        "drivers": {k: v for k, v in d.found.items()},   # npu-smi version line, torch.version.cuda, tool paths
        "srharness": version,
        "git": git_commit(root),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
