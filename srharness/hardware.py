"""Hardware detection from the real signals, one function per marker.

Each detector returns a `Detection`: present or not, what was looked for (the skip reason names
it), and what was found (versions, device names) for `srharness doctor`. Hardware kinds live in
the `HARDWARE` registry (marker description, detector, vendor tools, devices per card); the
built-in four are registered by `srharness.builtin` through `srharness.registry.register_hardware`.
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

from srharness.registry import Registry, provide

HARDWARE = Registry("hardware")


@dataclass(frozen=True)
class HardwareSpec:
    name: str
    detector: Callable[[], "Detection"]
    marker: str                        # pytest marker description
    tools: tuple[str, ...] = ()        # vendor command-line tools it drives (doctor lists them)
    devices_per_card: int = 1          # figures per card = per device x this (Ascend 310: 4)


def _register(name: str, detector: Callable, *, origin: str, replace_existing: bool, **fields) -> HardwareSpec:
    """srharness.registry.register_hardware lands here (this module hands it in: `provide`)."""
    return HARDWARE.add(name, HardwareSpec(name=name, detector=detector, **fields), origin, replace_existing)


provide("hardware", _register)


@dataclass
class Detection:
    name: str
    present: bool
    looked_for: str
    found: dict[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return f"{self.name} hardware not found (looked for {self.looked_for})"


def module_present(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _tool_output(argv: list[str], timeout: float = 10.0) -> str | None:
    """First lines of a tool's output, or None if it is absent or fails."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        # errors="replace": a vendor tool printing GBK or Latin-1 must not crash doctor or pytest
        proc = subprocess.run(argv, capture_output=True, text=True, encoding="utf-8", errors="replace",
                              timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout


def detect_cpu() -> Detection:
    import platform
    return Detection("cpu", True, "the host CPU", {"machine": platform.machine(), "processor": platform.processor() or "?"})


def detect_cuda() -> Detection:
    # torch.cuda, or `nvidia-smi -L` listing a GPU: a host with a GPU and TensorRT but a CPU-only
    # torch still runs the trtexec checks (the torch-cuda checks then skip with their own reason).
    looked = "torch.cuda.is_available() with at least one device, or a GPU listed by `nvidia-smi -L`"
    found: dict[str, str] = {}
    try:
        import torch
        found.update({"torch": torch.__version__, "torch.version.cuda": str(torch.version.cuda)})
        if torch.cuda.is_available() and torch.cuda.device_count() > 0:
            found["devices"] = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    except ImportError:
        pass
    listed = _tool_output(["nvidia-smi", "-L"])
    gpus = [l.strip() for l in (listed or "").splitlines() if l.strip().startswith("GPU ")]
    if gpus:
        found["nvidia-smi -L"] = "; ".join(gpus)
    if shutil.which("trtexec"):
        found["trtexec"] = shutil.which("trtexec")
    return Detection("cuda", "devices" in found or bool(gpus), looked, found)


def detect_ascend() -> Detection:
    looked = "`npu-smi info` on PATH, or the Python packages acl / ais_bench / torch_npu"
    found: dict[str, str] = {}
    out = _tool_output(["npu-smi", "info"])
    if out is not None:
        found["npu-smi"] = shutil.which("npu-smi") or ""
        for line in out.splitlines():
            if "Version" in line and "npu-smi" in line:
                found["npu-smi info"] = " ".join(line.strip("| \n").split())
                break
    for mod in ("acl", "ais_bench", "torch_npu"):
        if module_present(mod):
            found[mod] = "importable"
    for tool in ("atc", "benchmark", "benchmark.x86_64", "benchmark.aarch64"):
        if shutil.which(tool):
            found[tool] = shutil.which(tool) or ""
    present = "npu-smi" in found or any(m in found for m in ("acl", "ais_bench", "torch_npu"))
    return Detection("ascend", present, looked, found)


def detect_vacc() -> Detection:
    looked = "`vamp` or `vasmi` on PATH, or the VastAI Python runtime vaststreamx"
    found: dict[str, str] = {}
    for tool in ("vamp", "vasmi", "vamc"):
        if shutil.which(tool):
            found[tool] = shutil.which(tool) or ""
    if module_present("vaststreamx"):
        found["vaststreamx"] = "importable"
    present = any(k in found for k in ("vamp", "vasmi", "vaststreamx"))
    return Detection("vacc", present, looked, found)


def register_builtin_hardware(api) -> None:
    api.register_hardware("cpu", detect_cpu, marker="runs on the host CPU (torch, onnxruntime); needs no card")
    api.register_hardware("cuda", detect_cuda, tools=("trtexec", "nvidia-smi"),
                          marker="needs an NVIDIA GPU (torch.cuda); TensorRT checks also need trtexec")
    # An Ascend 310 card holds 4 devices (the guides multiply the per-device figure by 4).
    api.register_hardware("ascend", detect_ascend, tools=("atc", "benchmark", "ais_bench", "npu-smi"),
                          devices_per_card=4,
                          marker="needs a Huawei Ascend NPU (npu-smi, or the acl / ais_bench packages)")
    api.register_hardware("vacc", detect_vacc, tools=("vamc", "vamp", "vasmi"),
                          marker="needs a VastAI card (vamp / vasmi, or the vaststreamx runtime)")


@lru_cache(maxsize=None)
def detect(name: str) -> Detection:
    if name not in HARDWARE:
        raise ValueError(f"unknown hardware {name!r}; known: {', '.join(HARDWARE)}")
    return HARDWARE[name].detector()


def detect_all() -> dict[str, Detection]:
    return {name: detect(name) for name in HARDWARE}
