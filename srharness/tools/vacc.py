"""VastAI command lines and files, as the VDSR and RCAN SR4K guides (seeds 000, 004; PROTOCOLS.md C)
and the vendor's own files in Vastai/VastModelZOO (fixtures/vendor_specs/vastai: the schemas inferred
from its 768 vdsp JSON and 344 vamc YAML files, and the VDSR/RCAN files themselves):

- `vamc compile <name>.yaml` builds `deploy_weights/<name>/mod` from a YAML with frontend (onnx,
  fp32, input shape), backend (tvm_vacc, fp16 | int8, calibrate_mode max | kl_divergence,
  per-channel), a calibration dataset and its process_ops;
- the vdsp params JSON (a top-level `{"OpType", "OpConfig"}` object, as 766 of the vendor's 768
  files) tells vamp how to turn the uint8 npz inputs into the model's tensor;
- inputs are `np.savez(<stem>.npz, input_0=uint8 CHW)` listed in `npz_datalist.txt`, one absolute
  path per line; the vdsp takes 3-channel `RGB_PLANAR` only, so a one-channel (Y) model's input is
  the Y plane stacked three times, as the vendor's VDSR `image2npz.py` does (its `vsx_inference.py`
  asserts c == 3), and vamp's `-s` is `[3,H,W]`;
- `vamp -m deploy_weights/<name>/mod --vdsp_params J -i 1 -p 1 -b 1 -s [3,H,W]` times the model
  (the guides print `-i 1 p 1`, a typo of `-p 1`); with `--datalist L --path_output D` it also
  writes one npz per input with key `output_0`.

Pairing outputs with inputs: the guides' eval sorts the output npz files and pairs the i-th with
the i-th datalist line, while VDSR's datalist comes from an unsorted glob, so images can be
scored against the wrong ground truth. Here every input stem carries a zero-padded index, so the
datalist order, the sorted order and the name all agree, and outputs are matched by name.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from srharness.fileio import atomic_write_text

from .parsing import LogParseError

CALIBRATE_MODES = ("max", "kl_divergence")
DTYPES = ("fp16", "int8")


@dataclass
class VamcConfig:
    name: str
    onnx: Path
    input_shape: Sequence[int]           # NCHW, e.g. [1, 3, 1080, 1920]
    input_name: str = "input"            # frontend.shape is keyed by the model's input name
    dtype: str = "fp16"                  # fp16 | int8
    calibrate_mode: str = "max"          # int8 only: max | kl_divergence
    dataset_path: Path | None = None     # int8 only: calibration images
    dataset_suffix: str = "png"
    dataset_num: int = 5
    process_ops: list[dict[str, Any]] = field(default_factory=list)
    graph_partition: bool = False        # RCAN's build sets enable_graph_partition
    workspace: Path = Path("./deploy_weights/")

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"vamc dtype {self.dtype!r}: one of {DTYPES}")
        if self.dtype == "int8":
            if self.calibrate_mode not in CALIBRATE_MODES:
                raise ValueError(f"calibrate_mode {self.calibrate_mode!r}: one of {CALIBRATE_MODES}")
            if self.dataset_path is None:
                raise ValueError("int8 needs a calibration dataset_path (see prepare_calibration_set)")

    @property
    def model_prefix(self) -> Path:
        """What vamp's -m takes: <workspace>/<name>/mod."""
        return Path(self.workspace) / self.name / "mod"


def vamc_yaml(cfg: VamcConfig) -> dict[str, Any]:
    backend: dict[str, Any] = {"type": "tvm_vacc", "dtype": cfg.dtype,
                               "compile": {"data_transport_mode": 1}}
    if cfg.graph_partition:
        backend["compile"]["enable_graph_partition"] = True
    doc: dict[str, Any] = {
        "name": cfg.name,
        "frontend": {"shape": {cfg.input_name: list(cfg.input_shape)}, "type": "onnx",
                     "checkpoint": str(cfg.onnx), "dtype": "fp32"},
        "backend": backend,
        "workspace": {"path": str(cfg.workspace)},
    }
    if cfg.dtype == "int8":
        backend["quantize"] = {"calibrate_mode": cfg.calibrate_mode, "quantize_per_channel": True}
        doc["dataset"] = {"type": "tvm", "path": str(cfg.dataset_path),
                          "sampler": {"suffix": cfg.dataset_suffix, "get_data_num": cfg.dataset_num},
                          "process_ops": cfg.process_ops}
    return doc


def write_yaml(doc: dict[str, Any], path: Path) -> Path:
    import yaml
    return atomic_write_text(path, yaml.safe_dump(doc, sort_keys=False))


def process_ops_rgb(height: int, width: int) -> list[dict[str, Any]]:
    """RCAN SR4K's calibration preprocessing: decode, resize to the model size, to tensor; no /255
    (the model takes [0,255])."""
    return [{"type": "DecodeImage"}, {"type": "Resize", "size": [height, width]}, {"type": "ToTensor"}]


def process_ops_y(height: int, width: int) -> list[dict[str, Any]]:
    """VDSR's official_vdsr.yaml: decode, RGB->YCrCb, resize, keep Y, the tool's default Normalize
    (`norm_type: None`, the string the vendor's SR files write; YAML null also occurs elsewhere)."""
    return [{"type": "DecodeImage"}, {"type": "CvtColor", "code": "COLOR_RGB2YCrCb"},
            {"type": "Resize", "size": [height, width]}, {"type": "ChannelSplit", "index": 0},
            {"type": "Normalize", "norm_type": "None"}, {"type": "ToTensor"}]


def prepare_calibration_set(images: Sequence[np.ndarray], folder: Path) -> Path:
    """Write uint8 HWC (or HW) images as PNGs for vamc's int8 calibration."""
    import cv2
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        img = np.asarray(img)
        if img.dtype != np.uint8:
            raise ValueError(f"calibration image {i}: uint8 expected, got {img.dtype}")
        bgr = img[..., ::-1] if img.ndim == 3 else img
        if not cv2.imwrite(str(folder / f"calib{i:04d}.png"), np.ascontiguousarray(bgr)):
            raise OSError(f"could not write {folder / f'calib{i:04d}.png'}")
    return folder


def vdsp_params(width: int, height: int, *, div255: bool = True) -> dict[str, Any]:
    """The vdsp JSON as the vendor writes it (official-vdsr / basicsr-rcan-vdsp_params.json: the
    same keys in the same order): planar RGB in (the only image format the SR files use; a Y
    model's input is stacked to 3 planes), no resize (in = out size), mean 0, std 1. `div255` False
    keeps the [0,255] range (SR4K's rgb_range 255)."""
    return {
        "OpType": "FUSION_OP_RGB_RESIZE_CVTCOLOR_NORM_TENSOR",
        "OpConfig": {
            "IimageFormat": "RGB_PLANAR",
            "IimageWidth": width, "IimageHeight": height,
            "OimageWidth": width, "OimageHeight": height,
            "IimageWidthPitch": width, "IimageHeightPitch": height,
            "Mean": [0.0, 0.0, 0.0], "Std": [1.0, 1.0, 1.0],
            "NormaType": "DIV255_MINUSMEAN_DIVSTD" if div255 else "MINUSMEAN_DIVSTD",
            "ColorCvtCode": "NO_CHANGE", "ResizeType": "BILINEAR_CV",
        },
    }


def vamp_chw(model_chw: Sequence[int]) -> tuple[int, int, int]:
    """What vamp is fed (`-s`, the npz arrays): 3 planes whatever the model's channels."""
    c, h, w = model_chw
    if c not in (1, 3):
        raise ValueError(f"the vdsp feeds RGB_PLANAR images: a model with {c} input channels cannot be fed")
    return 3, int(h), int(w)


def write_json(obj: Any, path: Path) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2))


def npz_stem(index: int, name: str) -> str:
    return f"{index:06d}-{re.sub(r'[^A-Za-z0-9.-]', '-', name)}"


def write_npz_inputs(arrays: Sequence[np.ndarray], names: Sequence[str], folder: Path,
                     datalist: Path) -> list[Path]:
    """uint8 CHW arrays as `<idx>-<name>.npz` (key input_0) plus the datalist in the same order.
    A one-channel (Y) array is stacked to 3 planes, as the vendor's image2npz.py does."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (arr, name) in enumerate(zip(arrays, names, strict=True)):
        arr = np.asarray(arr)
        if arr.dtype != np.uint8 or arr.ndim != 3:
            raise ValueError(f"npz input {name}: uint8 CHW expected, got {arr.dtype} {arr.shape}")
        if arr.shape[0] == 1:
            arr = np.concatenate([arr, arr, arr])
        if arr.shape[0] != 3:
            raise ValueError(f"npz input {name}: 1 or 3 channels expected, got {arr.shape}")
        path = folder / f"{npz_stem(i, name)}.npz"
        np.savez(path, input_0=arr)
        paths.append(path.resolve())
    atomic_write_text(datalist, "".join(f"{p}\n" for p in paths))
    return paths


def shape_arg(chw: Sequence[int]) -> str:
    return "[" + ",".join(str(d) for d in chw) + "]"


def vamp_argv(model_prefix: Path, vdsp_json: Path, chw: Sequence[int], *, instances: int = 1,
              processes: int = 1, batch: int = 1, datalist: Path | None = None,
              path_output: Path | None = None, binary: str = "vamp") -> list[str]:
    argv = [binary, "-m", str(model_prefix), "--vdsp_params", str(vdsp_json), "-i", str(instances),
            "-p", str(processes), "-b", str(batch), "-s", shape_arg(chw)]
    if (datalist is None) != (path_output is None):
        raise ValueError("vamp accuracy runs need both --datalist and --path_output")
    if datalist is not None:
        argv += ["--datalist", str(datalist), "--path_output", str(path_output)]
    return argv


def onnx_input_name(onnx_path: Path) -> str:
    """The model's first graph input that is not an initializer (vamc keys frontend.shape by it)."""
    import onnx
    model = onnx.load(str(onnx_path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    return next(i.name for i in model.graph.input if i.name not in inits)


def read_npz_outputs(path_output: Path, input_paths: Sequence[Path]) -> list[np.ndarray]:
    """`output_0` of each output npz, matched to its input by name (the output's name contains
    the input stem). Fails naming the folder when an input has no output or several."""
    files = sorted(path_output.rglob("*.npz")) if path_output.is_dir() else []
    if not files:
        raise LogParseError(str(path_output), "vamp", "no npz outputs", "run vamp with --datalist and --path_output")
    outputs = []
    for inp in input_paths:
        stem = Path(inp).stem
        match = [f for f in files if stem in f.stem]
        if len(match) != 1:
            raise LogParseError(str(path_output), "vamp", f"expected one output for input {stem}, found "
                                f"{[m.name for m in match] or 'none'}")
        with np.load(match[0]) as z:
            if "output_0" not in z.files:
                raise LogParseError(str(match[0]), "vamp", f"no key output_0 (keys: {z.files})")
            outputs.append(np.array(z["output_0"]))
    return outputs
