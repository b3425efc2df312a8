"""TensorRT runner through `trtexec` (the guides' T4 baseline tool): the build run saves the engine
and prints the timing the guides read (GPU Compute mean), later runs load the engine and feed an
input file, the output coming back through `--exportOutput`. Torch on CUDA and onnxruntime's CUDA
provider are the CPU runners with another device (srharness.runners.torch_runner / ort_runner).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from srharness.runners.base import Runner, RunnerInfo
from srharness.tools import tensorrt as tools
from srharness.tools.logs import TrtexecPerf, parse_trtexec
from srharness.tools.process import command_line, run_tool


class TensorRTRunner(Runner):
    backend = "tensorrt"
    hardware = "cuda"

    def __init__(self, onnx_path: Path, *, input_name: str, input_shape: Sequence[int], workdir: Path,
                 precision: str = "fp16", timeout: float = 1800):
        super().__init__()
        self.onnx_path = Path(onnx_path)
        self.input_name = input_name
        self.input_shape = tuple(input_shape)
        self.workdir = Path(workdir)
        self.precision = precision
        self.timeout = timeout
        self.commands: list[str] = []
        self.logs: list[str] = []
        self.build_perf: TrtexecPerf | None = None
        self.output_shape: tuple[int, ...] | None = None
        self._calls = 0

    def _tool(self, argv: list[str]):
        self.commands.append(command_line(argv))
        result = run_tool(argv, log_dir=self.workdir / "logs", timeout=self.timeout, cwd=self.workdir)
        self.logs.append(str(result.log_path))
        return result

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
        self._calls += 1
        inp = self.workdir / f"input{self._calls}.bin"
        out = self.workdir / f"output{self._calls}.json"
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
