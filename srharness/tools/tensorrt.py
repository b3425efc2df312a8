"""TensorRT `trtexec` command lines, as the guides' T4 baselines (seeds 001, 002):
`trtexec --onnx=X.onnx --fp16 --shapes=image:1x3x114x114`, plus engine save/load and, for
accuracy, `--loadInputs` / `--exportOutput` so the engine's outputs come back as arrays.

`--shapes` is only valid for an ONNX input with dynamic dimensions (RDN's guide exports a dynamic
batch); TensorRT rejects explicit shapes for a static input, so it is passed only when needed.

The flags depend on the TensorRT version (fixtures/vendor_specs/trtexec-<version>.yaml, from
NVIDIA/TensorRT's samples/common/sampleOptions.cpp at each tag):
- TensorRT 11 removed `--fp16`, `--int8` and `--best` ("Unknown option", exit 1): networks are
  strongly typed, so an fp16 engine is built from an fp16 ONNX with float32 inputs/outputs kept
  (srharness.quantize.to_fp16), and int8 needs a QDQ ONNX;
- TF32 is on by default since TensorRT 7.1: an fp32 build sends `--noTF32`, so "fp32" is fp32;
- TensorRT 11 also changed the timing defaults (CUDA graphs, spin-wait, no H2D/D2H transfers; 8.6
  and 10.x time with transfers, without graphs or spin-wait): a figure is comparable with the
  guides' T4 baselines (TensorRT 7.2.3.4, the 7.x defaults) only with its version and flags,
  which `timing_mode` states and every figure records.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .parsing import LogParseError
from .tensorrt_logs import parse_version

PRECISION_FLAGS = {"fp32": ["--noTF32"], "fp16": ["--fp16"], "int8": ["--int8"], "best": ["--best"]}
STRONGLY_TYPED_FROM = (11, 0)   # TensorRT 11: no precision flags; the ONNX's types are the engine's


def trtexec_version(binary: str = "trtexec", timeout: float = 60) -> tuple[int, int, int]:
    """Ask the installed trtexec: `trtexec --help` prints its banner first and exits 0."""
    import subprocess
    try:
        out = subprocess.run([binary, "--help"], check=False, capture_output=True, text=True, timeout=timeout,
                             errors="replace", stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LogParseError(binary, "trtexec --help", f"could not run it ({exc})") from None
    version = parse_version(out.stdout + out.stderr)
    if version is None:
        raise LogParseError(binary, "trtexec --help", "no '[TensorRT vNNNN]' banner in its output",
                            "is this NVIDIA's trtexec?")
    return version


def version_text(version: Sequence[int] | None) -> str | None:
    return None if version is None else ".".join(str(v) for v in version)


def precision_flags(precision: str, version: Sequence[int]) -> list[str]:
    """The flags `precision` needs on this TensorRT (see the module doc)."""
    if precision not in PRECISION_FLAGS:
        raise ValueError(f"precision {precision!r}: one of {', '.join(PRECISION_FLAGS)}")
    if tuple(version[:2]) >= STRONGLY_TYPED_FROM and precision in ("int8", "best"):
        raise ValueError(f"TensorRT {version_text(version)} has no --{precision}: engines are strongly typed; "
                         "build int8 from a QDQ ONNX (srharness.quantize) and pass precision fp16 or fp32")
    if tuple(version[:2]) >= STRONGLY_TYPED_FROM and precision == "fp16":
        return []   # the fp16 ONNX carries the precision
    if precision == "fp32" and tuple(version[:2]) < (7, 1):
        return []   # no TF32 before 7.1
    return list(PRECISION_FLAGS[precision])


def needs_fp16_onnx(precision: str, version: Sequence[int]) -> bool:
    return precision == "fp16" and tuple(version[:2]) >= STRONGLY_TYPED_FROM


def timing_mode(version: Sequence[int], flags: Sequence[str] = ()) -> dict:
    """How this trtexec times by default (the help text of each version's sampleOptions.cpp):
    TensorRT 11 enables CUDA graphs and spin-wait and drops the H2D/D2H transfers; before, each
    is off unless its flag is given. The guides' T4 baselines are TensorRT 7.2.3.4 defaults."""
    new = tuple(version[:2]) >= STRONGLY_TYPED_FROM
    return {"cuda_graph": new or "--useCudaGraph" in flags, "spin_wait": new or "--useSpinWait" in flags,
            "data_transfers": not (new or "--noDataTransfers" in flags)}


def shapes_arg(name: str, shape: Sequence[int]) -> str:
    return f"--shapes={name}:{'x'.join(str(d) for d in shape)}"


def onnx_input_is_dynamic(onnx_path: Path) -> bool:
    import onnx
    model = onnx.load(str(onnx_path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    inp = next(i for i in model.graph.input if i.name not in inits)
    return any(not d.HasField("dim_value") for d in inp.type.tensor_type.shape.dim)


def trtexec_build_argv(onnx_path: Path, engine: Path, *, precision: str, input_name: str,
                       input_shape: Sequence[int], dynamic: bool, extra: Sequence[str] = (),
                       version: Sequence[int] = (7, 2, 3)) -> list[str]:
    """Build the engine and time it in the same run, as the guides' one command does. `version`:
    the TensorRT the command is for (the guides' 7.2.3 by default); from 11 the ONNX given for
    fp16 must be the fp16 one (needs_fp16_onnx)."""
    argv = ["trtexec", f"--onnx={onnx_path}", *precision_flags(precision, version)]
    if dynamic:
        argv.append(shapes_arg(input_name, input_shape))
    return argv + [f"--saveEngine={engine}", *extra]


def trtexec_infer_argv(engine: Path, *, input_name: str, input_shape: Sequence[int], dynamic: bool,
                       input_file: Path, output_json: Path) -> list[str]:
    argv = ["trtexec", f"--loadEngine={engine}"]
    if dynamic:
        argv.append(shapes_arg(input_name, input_shape))
    return argv + [f"--loadInputs={input_name}:{input_file}", f"--exportOutput={output_json}",
                   "--iterations=1", "--warmUp=0", "--duration=0"]


def read_exported_output(path: Path, name: str | None = None) -> np.ndarray:
    """`--exportOutput` JSON: a list of {"name", "dimensions": "1x3x228x228", "values": [...]}."""
    try:
        entries = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise LogParseError(str(path), "trtexec --exportOutput", f"unreadable ({exc})") from None
    if not isinstance(entries, list) or not entries:
        raise LogParseError(str(path), "trtexec --exportOutput", "expected a non-empty list of outputs")
    entry = entries[0] if name is None else next((e for e in entries if e.get("name") == name), None)
    if entry is None:
        raise LogParseError(str(path), "trtexec --exportOutput", f"no output named {name!r}")
    try:
        dims = [int(d) for d in str(entry["dimensions"]).split("x")]
        values = np.asarray(entry["values"], dtype=np.float32)
    except (KeyError, ValueError) as exc:
        raise LogParseError(str(path), "trtexec --exportOutput", f"bad entry ({exc})") from None
    if values.size != int(np.prod(dims)):
        raise LogParseError(str(path), "trtexec --exportOutput", f"{values.size} values for dimensions {dims}")
    return values.reshape(dims)
