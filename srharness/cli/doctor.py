"""srharness doctor: the hardware srharness detects, and the tool and library versions it will use."""
from __future__ import annotations

import json
import platform
import shutil
import sys

# Vendor tools the suites drive through their command lines. Only their paths are shown: none has
# a version flag documented in the guides, and running an unknown flag on a vendor tool is not cheap
# (npu-smi's version comes with the ascend detection).
TOOLS = ("atc", "benchmark", "benchmark.x86_64", "benchmark.aarch64", "ais_bench", "vamc", "vamp", "vasmi",
         "npu-smi", "trtexec")
LIBRARIES = ("torch", "onnx", "onnxruntime", "onnxscript", "numpy", "cv2", "PIL", "scipy", "skimage",
             "allure_pytest", "pytest", "xdist", "hypothesis", "yaml")


def add_parser(sub):
    p = sub.add_parser("doctor", help="show detected hardware, tool paths and library versions",
                       description="What srharness detects on this machine: hardware (cpu, cuda, ascend, vacc) "
                                   "with the signals looked for, vendor tools on PATH, library versions.")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def _version(module_name: str) -> str | None:
    import importlib
    import importlib.metadata
    dist = {"cv2": "opencv-python-headless", "PIL": "pillow", "skimage": "scikit-image",
            "allure_pytest": "allure-pytest", "xdist": "pytest-xdist", "yaml": "pyyaml"}.get(module_name)
    try:
        module = importlib.import_module(module_name)
    except Exception:
        return None
    version = getattr(module, "__version__", None)
    if version is None and dist:
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = "installed"
    return str(version or "installed")


def collect() -> dict:
    from srharness.hardware import detect_all
    hardware = {name: {"present": d.present, "looked_for": d.looked_for, "found": d.found}
                for name, d in detect_all().items()}
    libraries = {name: _version(name) for name in LIBRARIES}
    try:
        import onnxruntime
        providers = onnxruntime.get_available_providers()
    except ImportError:
        providers = []
    tools = {name: shutil.which(name) for name in TOOLS}
    return {"python": sys.version.split()[0], "platform": platform.platform(), "executable": sys.executable,
            "hardware": hardware, "libraries": libraries, "onnxruntime_providers": providers, "tools": tools}


def run(args) -> int:
    report = collect()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"python {report['python']} ({report['executable']}) on {report['platform']}")
    print("hardware:")
    for name, d in report["hardware"].items():
        found = ", ".join(f"{k}={v}" for k, v in d["found"].items())
        state = "present" if d["present"] else "absent "
        detail = found if d["present"] else f"looked for {d['looked_for']}" + (f"; found {found}" if found else "")
        print(f"  {name:<7} {state}  {detail}")
    print("libraries:")
    for name, version in report["libraries"].items():
        print(f"  {name:<14} {version or 'not installed'}")
    print(f"  onnxruntime providers: {', '.join(report['onnxruntime_providers']) or 'none'}")
    print("tools:")
    for name, path in report["tools"].items():
        print(f"  {name:<18} {path or 'not on PATH'}")
    return 0
