"""TensorRT runner through `trtexec` (the guides' T4 baseline tool): the build run saves the engine
and prints the timing the guides read (GPU Compute mean), later runs load the engine and feed an
input file, the output coming back through `--exportOutput`. Torch on CUDA and onnxruntime's CUDA
provider are the CPU runners with another device (srharness.runners.torch_runner / ort_runner).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from srharness.runners.base import RunnerInfo, VendorToolRunner
from srharness.tools import tensorrt as tools
from srharness.tools.logs import TrtexecPerf, parse_trtexec


class TensorRTRunner(VendorToolRunner):
    backend = "tensorrt"
    tools_run_in_workdir = True   # trtexec resolve relative paths from the working folder
    hardware = "cuda"

    def __init__(self, onnx_path: Path, *, input_name: str, input_shape: Sequence[int], workdir: Path,
                 precision: str = "fp16", timeout: float = 1800):
        super().__init__(workdir, timeout)
        self.onnx_path = Path(onnx_path)
        self.input_name = input_name
        self.input_shape = tuple(input_shape)
        self.precision = precision
        self.build_perf: TrtexecPerf | None = None
        self.output_shape: tuple[int, ...] | None = None

    def _build(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.dynamic = tools.onnx_input_is_dynamic(self.onnx_path)
        self.engine = self.workdir / f"{self.onnx_path.stem}_{self.precision}.engine"
        result = self._tool(tools.trtexec_build_argv(self.onnx_path.resolve(), self.engine.resolve(),
                                                     precision=self.precision, input_name=self.input_name,
                                                     input_shape=self.input_shape, dynamic=self.dynamic))
        self.build_perf = parse_trtexec(result.output, str(result.log_path))

    def _run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.shape != self.input_shape:
            raise ValueError(f"the engine was built for {list(self.input_shape)}, got {list(x.shape)}")
        run_dir = self._next_run_dir()
        run_dir.mkdir(parents=True, exist_ok=True)
        inp, out = run_dir / "input.bin", run_dir / "output.json"
        x.tofile(inp)
        self._tool(tools.trtexec_infer_argv(self.engine.resolve(), input_name=self.input_name,
                                            input_shape=self.input_shape, dynamic=self.dynamic,
                                            input_file=inp.resolve(), output_json=out.resolve()))
        y = tools.read_exported_output(out)
        self.output_shape = y.shape
        return y

    def perf(self) -> TrtexecPerf:
        """trtexec's own timing of the saved engine (its default warm-up, iterations and duration)."""
        self.build()
        argv = ["trtexec", f"--loadEngine={self.engine.resolve()}"]
        if self.dynamic:
            argv.append(tools.shapes_arg(self.input_name, self.input_shape))
        result = self._tool(argv)
        return parse_trtexec(result.output, str(result.log_path))

    def describe(self) -> RunnerInfo:
        return RunnerInfo(self.backend, self.hardware, self.precision, self.input_shape, self.output_shape, {
            "engine": str(getattr(self, "engine", "")), "dynamic_input": getattr(self, "dynamic", None),
            "commands": list(self.commands), "logs": list(self.logs),
        })
