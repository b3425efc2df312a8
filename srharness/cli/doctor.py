"""srharness doctor: the hardware srharness detects, and the tool and library versions it will use.

What srharness detects on this machine: hardware (cpu, cuda, ascend, vacc) with the signals
looked for, vendor tools on PATH, library versions.
"""
from __future__ import annotations

import json
import platform
import shutil
import sys
from srharness import settings

# Vendor tools the suites drive through their command lines. Only their paths are shown: none has
# a version flag documented in the guides, and running an unknown flag on a vendor tool is not cheap
# (npu-smi's version comes with the ascend detection).
TOOLS = ("atc", "benchmark", "benchmark.x86_64", "benchmark.aarch64", "ais_bench", "vamc", "vamp", "vasmi",
         "npu-smi", "trtexec")
LIBRARIES = ("torch", "onnx", "onnxruntime", "onnxscript", "numpy", "cv2", "PIL", "scipy", "skimage",
             "allure_pytest", "pytest", "xdist", "hypothesis", "yaml")


def arguments(p):
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def data_and_weights(data_dir: str | None, weights_dir: str | None) -> dict:
    """The data dir in use and the official weights found there, per model and scale."""
    from pathlib import Path
    data = settings.resolve("sr_data_dir", flag=data_dir)
    from srharness.settings import weights_dir as resolve
    found = resolve(weights_dir, data, existing=True)
    weights = str(found) if found else None
    found: dict[str, dict[str, str | None]] = {}
    if weights:
        from srharness.checkpoints import find_weights
        from srharness.models import MODELS, get_model_spec
        for name in MODELS:
            try:
                scales = get_model_spec(name).scales
                found[name] = {f"x{s}": (str(p) if (p := find_weights(Path(weights), name, s)) else None)
                               for s in scales}
            except Exception as exc:   # a user model whose spec cannot say: shown, never fatal
                found[name] = {"error": str(exc)}
    return {"data_dir": data, "data_dir_exists": bool(data and Path(data).is_dir()),
            "set5": bool(data and (Path(data) / "set5").is_dir()), "weights_dir": weights, "weights": found}


def report_tools() -> dict:
    """The HTML report generator and the browser the report check renders it in."""
    from srharness.nightly import find_generator
    gen = find_generator()
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    return {"allure": f"allure {gen.major} ({gen.command[0]})" if gen else None, "browser": browser}


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
    from srharness import registry
    from srharness.backends import BACKENDS
    registered = {"plugins": registry.loaded_plugins(), "replaced": registry.replacements(),
                  "models": {n: registry.MODELS.origin(n) for n in registry.MODELS},
                  "backends": {n: BACKENDS[n].hardware for n in BACKENDS}}
    return {"registered": registered, "python": sys.version.split()[0], "platform": platform.platform(), "executable": sys.executable,
            "hardware": hardware, "libraries": libraries, "onnxruntime_providers": providers, "tools": tools,
            "report": report_tools()}


def run(args) -> int:
    report = collect()
    report["data"] = data_and_weights(getattr(args, "data_dir", None), getattr(args, "weights_dir", None))
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
    reg = report["registered"]
    print(f"plugins: {', '.join(reg['plugins'])}")
    for line in reg["replaced"]:
        print(f"  WARNING: {line}")
    print("models: " + ", ".join(f"{n} ({o})" if o != "srharness.builtin" else n for n, o in reg["models"].items()))
    print("backends: " + ", ".join(f"{n} [{hw}]" for n, hw in reg["backends"].items()))
    data = report["data"]
    print(f"data dir: {data['data_dir'] or 'not set (SRHARNESS_DATA_DIR / --data-dir): the embedded images are used'}"
          + ("" if not data["data_dir"] else "" if data["data_dir_exists"] else "  (MISSING)")
          + ("  set5/ found" if data["set5"] else ""))
    print(f"weights dir: {data['weights_dir'] or 'none'}")
    for name, per_scale in data["weights"].items():
        have = [s for s, p in per_scale.items() if p and s != "error"]
        print(f"  {name:<16} {('found for ' + ', '.join(have)) if have else 'none found'}")
    rep = report["report"]
    print(f"report generator: {rep['allure'] or 'none (npm install allure)'}; browser: "
          f"{rep['browser'] or 'none (apt-get install chromium)'}")
    return 0
