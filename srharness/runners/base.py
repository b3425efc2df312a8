"""One runner interface for every backend (after Polygraphy's backend runners).

A runner is built for one model artefact (a torch module, an ONNX file, an .om, a vacc
deployment, a TensorRT engine), runs it on numpy arrays, and describes what it ran. Comparing
outputs is not a runner's job: that is srharness.metrics and srharness.golden.

    runner = SomeRunner(...)
    runner.build()                 # compile / create the session (idempotent)
    y = runner.run(x)              # x: float32 or uint8 NCHW numpy array -> numpy array
    runner.describe()              # RunnerInfo: backend, hardware, precision, shapes, tool versions
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from srharness import progress
from srharness.errors import SrHarnessError


@dataclass
class RunnerInfo:
    backend: str                    # torch | ort | ort-fp16 | ort-int8 | ascend-om | vacc | tensorrt | torch-cuda ...
    hardware: str                   # cpu | cuda | ascend | vacc
    precision: str                  # fp32 | fp16 | int8 | ...
    input_shape: tuple[int, ...] | None = None
    output_shape: tuple[int, ...] | None = None
    details: dict[str, Any] = field(default_factory=dict)  # tool versions, command lines, precision_mode ...


class Runner(abc.ABC):
    backend: str = "?"
    hardware: str = "cpu"
    precision: str = "fp32"

    def __init__(self) -> None:
        self._built = False

    def build(self) -> "Runner":
        if not self._built:
            self._build()
            self._built = True
        return self

    @abc.abstractmethod
    def _build(self) -> None: ...

    def run(self, x: np.ndarray) -> np.ndarray:
        progress.step()        # one model run is a step: a waiting perf measurement may go first
        self.build()
        return self._run(x)

    @abc.abstractmethod
    def _run(self, x: np.ndarray) -> np.ndarray: ...

    def describe(self) -> RunnerInfo:
        return RunnerInfo(self.backend, self.hardware, self.precision)

    def close(self) -> None:
        """Release sessions and devices. Optional."""

    def __enter__(self):
        return self.build()

    def __exit__(self, *exc):
        self.close()


class VendorToolRunner(Runner):
    """A runner that drives a vendor's command-line tools (atc/benchmark, vamc/vamp, trtexec).

    Every call goes through `_tool`: the command line is recorded before it runs (so a failing
    command is in the report too), the full log is kept under `<workdir>/logs`, and a failure or
    timeout raises `srharness.tools.process.ToolError` with the tool's last lines.
    """

    tools_run_in_workdir = False

    def __init__(self, onnx_path, workdir, timeout: float, *, input_shape, output_shape=None) -> None:
        """Every vendor runner compiles one ONNX file at a static input shape (the output's is
        given, or read from the built engine)."""
        super().__init__()
        from pathlib import Path
        self.onnx_path = Path(onnx_path)
        self.input_shape = tuple(input_shape)
        self.output_shape: tuple[int, ...] | None = None if output_shape is None else tuple(output_shape)
        self.workdir = Path(workdir)
        self.timeout = timeout
        self.commands: list[str] = []
        self.logs: list[str] = []
        self._calls = 0

    def _tool(self, argv: list[str], **kw):
        from srharness.tools.process import command_line, run_tool
        if self.tools_run_in_workdir:
            kw.setdefault("cwd", self.workdir)
        self.commands.append(command_line(argv))
        result = run_tool(argv, log_dir=self.workdir / "logs", timeout=self.timeout, **kw)
        self.logs.append(str(result.log_path))
        return result

    def _next_run_dir(self):
        """A fresh folder for one run's inputs and outputs."""
        self._calls += 1
        return self.workdir / f"run{self._calls}"


class BackendUnavailable(SrHarnessError, RuntimeError):
    """The backend cannot be built for this model or here (no torch code, no calibration...)."""
