"""Ascend command lines and files, as the SRCNN and RDN guides (seeds 001, 002; PROTOCOLS.md A):

- `npu-smi info` gives the chip name, hence `--soc_version` (310 -> Ascend310, 310P3 -> Ascend310P3);
- `atc --framework=5 --model=X.onnx --output=X --input_format=NCHW --input_shape="name:1,3,114,114"
  --log=error --soc_version=...` compiles the .om; `--precision_mode` is passed only when asked and
  is recorded either way (atc's default for inference is force_fp16);
- inputs are raw float32 `.bin` files listed in a `.info` file, lines `<idx> <binpath> <W> <H>`;
- `benchmark -model_type=vision -device_id=0 -batch_size=1 -om_path= -input_text_path=
  -input_width= -input_height= -output_binary=False -useDvpp=False` writes text outputs to
  `result/dumpOutput_device0/<bin stem>_<k>.txt` and `result/perf_vision_batchsize_<B>_device_<D>.txt`.
"""
from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srharness.errors import UsageError
from srharness.fileio import atomic_write_text

from .ascend_logs import BenchmarkPerf, NpuSmiInfo, parse_benchmark, parse_npu_smi
from .parsing import LogParseError
from .process import ToolError, ToolResult, run_tool

ATC_DEFAULT_PRECISION_MODE = "force_fp16"   # CANN atc default for inference models
# The Ascend inference benchmark ships as benchmark.<arch>; a bare `benchmark` on PATH is often
# MindSpore Lite's (other flags: --modelFile ...), so it is taken only when its usage names -om_path.
BENCHMARK_BINARIES = ("benchmark.x86_64", "benchmark.aarch64", "benchmark")
# GE's path check (common/util.cc kPathValidReason): "The path can only contain 'a-z' 'A-Z' '0-9'
# '-' '.' '_' and chinese character" (and '/' between the components); atc refuses others (E10001)
_ATC_PATH = re.compile(r"[A-Za-z0-9._/\-\u4e00-\u9fa5]+")


def read_soc_version(log_dir: Path, timeout: float = 60) -> tuple[str, NpuSmiInfo, ToolResult]:
    result = run_tool(["npu-smi", "info"], log_dir=log_dir, timeout=timeout)
    info = parse_npu_smi(result.output, f"`npu-smi info` ({result.log_path})")
    return info.soc_version, info, result


@dataclass
class AtcConfig:
    onnx: Path
    output: Path                        # without .om, as atc takes it
    input_name: str
    input_shape: Sequence[int]          # NCHW
    soc_version: str
    precision_mode: str | None = None   # None: atc's default, recorded as such
    log_level: str = "error"            # the guides use debug; error keeps CI logs readable

    @property
    def effective_precision_mode(self) -> str:
        return self.precision_mode or ATC_DEFAULT_PRECISION_MODE


def check_atc_path(path, param: str) -> None:
    """Refuse, before atc does, a path outside the characters GE accepts (a space, '+', '~', ...)."""
    text = str(path)
    if not _ATC_PATH.fullmatch(text):
        bad = sorted({c for c in text if not _ATC_PATH.fullmatch(c)})
        raise UsageError(f"atc {param}={text}: the path contains {''.join(bad)!r}; atc accepts only a-z A-Z 0-9 "
                         "- . _ / and Chinese characters (GE's path check, error E10001): move or link the file, "
                         "or choose a --work-dir without them", subject=text)


def om_file(output: Path) -> Path | None:
    """The .om atc wrote for --output=OUTPUT: OUTPUT.om, or OUTPUT_linux_<arch>.om, which newer CANN
    versions write on some hosts. None if there is none; an error if there are several."""
    output = Path(output)
    found = [p for p in (output.with_name(output.name + ".om"), *sorted(output.parent.glob(output.name + "_linux_*.om")))
             if p.is_file()]
    if len(found) > 1:
        raise ToolError(f"atc wrote several .om files for --output={output}: {[p.name for p in found]}; "
                        "remove the stale ones", "atc")
    return found[0] if found else None


def atc_argv(cfg: AtcConfig) -> list[str]:
    check_atc_path(cfg.onnx, "--model")
    check_atc_path(cfg.output, "--output")
    argv = ["atc", "--framework=5", f"--model={cfg.onnx}", f"--output={cfg.output}", "--input_format=NCHW",
            f"--input_shape={cfg.input_name}:{','.join(str(d) for d in cfg.input_shape)}",
            f"--log={cfg.log_level}", f"--soc_version={cfg.soc_version}"]
    if cfg.precision_mode:
        argv.append(f"--precision_mode={cfg.precision_mode}")
    return argv


def write_bin_inputs(arrays: Sequence[np.ndarray], stems: Sequence[str], bin_dir: Path) -> list[Path]:
    """One raw float32 .bin per input (C,H,W or 1,C,H,W), as the guides' preprocess scripts write."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for arr, stem in zip(arrays, stems, strict=True):
        if "_" in stem:
            # RDN's postprocess finds the label by pred.split('_')[0]; benchmark appends _<k>.
            raise ValueError(f"input stem {stem!r} must not contain '_' (the output files are <stem>_<k>.txt)")
        path = bin_dir / f"{stem}.bin"
        np.ascontiguousarray(arr, dtype=np.float32).tofile(path)
        paths.append(path)
    return paths


def write_info(bin_paths: Sequence[Path], info_path: Path, width: int, height: int) -> Path:
    """The .info list of get_info.py / gen_dataset_info.py: `<idx> <binpath> <W> <H>` from index 0."""
    lines = [f"{i} {Path(p).resolve()} {width} {height}" for i, p in enumerate(bin_paths)]
    return atomic_write_text(info_path, "\n".join(lines) + "\n")


def find_benchmark_binary() -> str | None:
    """The Ascend benchmark: this host's benchmark.<arch> first; a bare `benchmark` only if its usage
    is the Ascend tool's (names -om_path), not MindSpore Lite's (--modelFile)."""
    import platform
    import subprocess
    names = sorted(BENCHMARK_BINARIES, key=lambda n: n != f"benchmark.{platform.machine()}")
    for name in names:
        if not shutil.which(name):
            continue
        if name != "benchmark":
            return name
        try:
            usage = subprocess.run([name, "--help"], capture_output=True, text=True, timeout=30, check=False,
                                   errors="replace", stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if "om_path" in usage.stdout + usage.stderr:
            return name
    return None


def benchmark_argv(binary: str, om: Path, info: Path, width: int, height: int, *, batch: int = 1,
                   device_id: int = 0) -> list[str]:
    return [binary, "-model_type=vision", f"-device_id={device_id}", f"-batch_size={batch}", f"-om_path={om}",
            f"-input_text_path={info}", f"-input_width={width}", f"-input_height={height}",
            "-output_binary=False", "-useDvpp=False"]


def perf_file(workdir: Path, batch: int = 1, device_id: int = 0) -> Path:
    return workdir / "result" / f"perf_vision_batchsize_{batch}_device_{device_id}.txt"


def read_perf(workdir: Path, batch: int = 1, device_id: int = 0) -> BenchmarkPerf:
    path = perf_file(workdir, batch, device_id)
    if not path.is_file():
        raise LogParseError(str(path), "benchmark", "the perf file was not written",
                            "benchmark writes it under result/ of its working directory after a full run")
    return parse_benchmark(path.read_text(), str(path))


def read_dump_outputs(workdir: Path, stems: Sequence[str], output_shape: Sequence[int], device_id: int = 0,
                      output_index: int | None = None) -> list[np.ndarray]:
    """Text outputs `result/dumpOutput_device<D>/<stem>_<k>.txt` back to arrays, matched by stem
    (never by listing order). With several outputs per input, `output_index` picks <k>."""
    dump = workdir / "result" / f"dumpOutput_device{device_id}"
    if not dump.is_dir():
        raise LogParseError(str(dump), "benchmark", "no output folder", "run benchmark with -output_binary=False")
    outputs = []
    for stem in stems:
        found = sorted(p for p in dump.glob(f"{stem}_*.txt") if re.fullmatch(rf"{re.escape(stem)}_\d+\.txt", p.name))
        if output_index is not None:
            found = [p for p in found if p.name == f"{stem}_{output_index}.txt"]
        if len(found) != 1:
            raise LogParseError(str(dump), "benchmark", f"expected one output {stem}_<k>.txt, found "
                                f"{[p.name for p in found] or 'none'}")
        values = np.loadtxt(found[0], dtype=np.float32).ravel()
        if values.size != int(np.prod(output_shape)):
            raise LogParseError(str(found[0]), "benchmark", f"{values.size} values, expected {int(np.prod(output_shape))} "
                                f"for shape {list(output_shape)}")
        outputs.append(values.reshape(output_shape))
    return outputs
