"""Ascend runner: `atc` compiles the ONNX file to an .om for the chip `npu-smi info` reports, and
the model runs through the ais_bench Python API when importable, else the `benchmark` binary on
.bin inputs listed in a .info file (seeds 001/002). Every command line is kept in `describe()`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from srharness.hardware import module_present
from srharness.runners.base import RunnerInfo, VendorToolRunner
from srharness.tools import ascend as tools
from srharness.tools.ascend_logs import BenchmarkPerf
from srharness.tools.process import ToolError


class AscendRunner(VendorToolRunner):
    backend = "ascend-om"
    hardware = "ascend"

    def __init__(self, onnx_path: Path, *, input_name: str, input_shape: Sequence[int], output_shape: Sequence[int],
                 workdir: Path, soc_version: str | None = None, precision_mode: str | None = None,
                 device_id: int = 0, timeout: float = 1800, use_ais_bench: bool | None = None):
        super().__init__(onnx_path, workdir, timeout, input_shape=input_shape, output_shape=output_shape)
        self.input_name = input_name
        self.soc_version = soc_version
        self.precision_mode = precision_mode
        self.device_id = device_id
        self.use_ais_bench = module_present("ais_bench") if use_ais_bench is None else use_ais_bench
        self.om_path: Path | None = None
        self.last_perf: BenchmarkPerf | None = None

    @property
    def precision(self) -> str:
        """What the om computes in, from the precision mode. force_fp32 is not fp32: for cube
        operators (Conv, MatMul) it keeps fp16 inputs (CANN's precision_mode description), so only
        must_keep_origin_dtype is labelled fp32."""
        mode = self.atc_config().effective_precision_mode
        return {"must_keep_origin_dtype": "fp32", "force_fp32": "fp32-cube-fp16"}.get(mode, "fp16")

    def atc_config(self) -> tools.AtcConfig:
        return tools.AtcConfig(onnx=self.onnx_path, output=self.workdir / self.onnx_path.stem,
                               input_name=self.input_name, input_shape=self.input_shape,
                               soc_version=self.soc_version or "?", precision_mode=self.precision_mode)

    def _build(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.soc_version is None:
            self.soc_version, _, result = tools.read_soc_version(self.workdir / "logs")
            self.commands.append(result.command)
        cfg = self.atc_config()
        self._tool(tools.atc_argv(cfg))
        self.om_path = tools.om_file(cfg.output)
        if self.om_path is None:
            raise ToolError(f"atc reported success but wrote no {cfg.output}.om (nor {cfg.output}_linux_<arch>.om)",
                            self.commands[-1])

    def run_files(self, arrays: Sequence[np.ndarray], stems: Sequence[str]) -> list[np.ndarray]:
        """Run a dataset the way the guides do (one benchmark call over all inputs); outputs come
        back matched by stem, and the perf file of the run is parsed into `last_perf`."""
        self.build()
        if self.use_ais_bench:
            return [self._ais_bench_infer(a) for a in arrays]
        run_dir = self._next_run_dir()
        bins = tools.write_bin_inputs(arrays, stems, run_dir / "bin")
        n, c, h, w = self.input_shape
        info = tools.write_info(bins, run_dir / "inputs.info", w, h)
        binary = tools.find_benchmark_binary()
        if binary is None:
            raise ToolError("Ascend benchmark binary not found on PATH (benchmark.x86_64 / benchmark.aarch64, or a "
                            "`benchmark` whose usage names -om_path; MindSpore Lite's benchmark is not it) and "
                            "ais_bench is not importable", "benchmark")
        self._tool(tools.benchmark_argv(binary, self.om_path.resolve(), info.resolve(), w, h, batch=n,
                                        device_id=self.device_id), cwd=run_dir)
        self.last_perf = tools.read_perf(run_dir, n, self.device_id)
        return tools.read_dump_outputs(run_dir, stems, self.output_shape, self.device_id)

    def _ais_bench_infer(self, x: np.ndarray) -> np.ndarray:
        from ais_bench.infer.interface import InferSession   # the ais_bench Python API
        if not hasattr(self, "_session"):
            self._session = InferSession(self.device_id, str(self.om_path))
        return np.asarray(self._session.infer([np.ascontiguousarray(x, dtype=np.float32)])[0]).reshape(self.output_shape)

    def _run(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.shape != self.input_shape:
            raise ValueError(f"the om was compiled for {list(self.input_shape)}, got {list(x.shape)}")
        return self.run_files([x], ["in0"])[0]

    def describe(self) -> RunnerInfo:
        cfg = self.atc_config()
        return RunnerInfo(self.backend, self.hardware, self.precision, self.input_shape, self.output_shape, {
            "soc_version": self.soc_version, "precision_mode": cfg.effective_precision_mode,
            "precision_mode_passed": self.precision_mode is not None,
            "executor": "ais_bench python API" if self.use_ais_bench else "benchmark binary",
            "om": str(self.om_path) if self.om_path else None,
            "commands": list(self.commands), "logs": list(self.logs),
        })
