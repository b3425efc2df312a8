"""TensorRT `trtexec` command lines, as the guides' T4 baselines (seeds 001, 002):
`trtexec --onnx=X.onnx --fp16 --shapes=image:1x3x114x114`, plus engine save/load and, for
accuracy, `--loadInputs` / `--exportOutput` so the engine's outputs come back as arrays.

`--shapes` is only valid for an ONNX input with dynamic dimensions (RDN's guide exports a dynamic
batch); TensorRT rejects explicit shapes for a static input, so it is passed only when needed.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from .logs import LogParseError

PRECISION_FLAGS = {"fp32": [], "fp16": ["--fp16"], "int8": ["--int8"], "best": ["--best"]}


def shapes_arg(name: str, shape: Sequence[int]) -> str:
    return f"--shapes={name}:{'x'.join(str(d) for d in shape)}"


def onnx_input_is_dynamic(onnx_path: Path) -> bool:
    import onnx
    model = onnx.load(str(onnx_path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    inp = next(i for i in model.graph.input if i.name not in inits)
    return any(not d.HasField("dim_value") for d in inp.type.tensor_type.shape.dim)


def trtexec_build_argv(onnx_path: Path, engine: Path, *, precision: str, input_name: str,
                       input_shape: Sequence[int], dynamic: bool, extra: Sequence[str] = ()) -> list[str]:
    """Build the engine and time it in the same run, as the guides' one command does."""
    if precision not in PRECISION_FLAGS:
        raise ValueError(f"precision {precision!r}: one of {', '.join(PRECISION_FLAGS)}")
    argv = ["trtexec", f"--onnx={onnx_path}", *PRECISION_FLAGS[precision]]
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
