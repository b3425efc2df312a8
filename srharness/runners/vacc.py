"""VastAI runner: `vamc compile` builds the deployment from a YAML (fp16, or int8 with max /
kl_divergence calibration on images written here), `vamp` runs it on uint8 npz inputs listed in
a datalist and writes npz outputs (`output_0`), and `vamp` without a datalist times it
(seeds 000/004). Every command line is kept in `describe()`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from srharness.runners.base import RunnerInfo, VendorToolRunner
from srharness.tools import vacc as tools
from srharness.tools.vacc_logs import VampPerf, parse_vamp
from srharness.tools.process import ToolError


def to_uint8(x: np.ndarray, input_range: float) -> np.ndarray:
    """vamp takes uint8 pixels; a float input on [0, input_range] is rounded to them."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x
    return np.clip(np.rint(x.astype(np.float64) * (255.0 / input_range)), 0, 255).astype(np.uint8)


class VaccRunner(VendorToolRunner):
    backend = "vacc"
    tools_run_in_workdir = True   # vamc/vamp resolve relative paths from the working folder
    hardware = "vacc"

    def __init__(self, onnx_path: Path, *, name: str, input_shape: Sequence[int], output_shape: Sequence[int],
                 workdir: Path, input_range: float, dtype: str = "fp16", calibrate_mode: str = "max",
                 calibration_images: Sequence[np.ndarray] = (), process_ops: list | None = None,
                 graph_partition: bool = False, timeout: float = 3600):
        super().__init__(onnx_path, workdir, timeout, input_shape=input_shape, output_shape=output_shape)
        self.name = name
        self.input_range = input_range
        self.precision = dtype
        self.calibrate_mode = calibrate_mode if dtype == "int8" else None
        self.calibration_images = list(calibration_images)
        self.process_ops = process_ops
        self.graph_partition = graph_partition
        self.last_perf: VampPerf | None = None

    @property
    def chw(self) -> tuple[int, ...]:
        return self.input_shape[1:]

    def config(self) -> tools.VamcConfig:
        n, c, h, w = self.input_shape
        dataset = None
        if self.precision == "int8":
            dataset = self.workdir / "calibration"
        return tools.VamcConfig(
            name=self.name, onnx=self.onnx_path.resolve(), input_shape=self.input_shape,
            input_name=tools.onnx_input_name(self.onnx_path), dtype=self.precision,
            calibrate_mode=self.calibrate_mode or "max", dataset_path=dataset,
            dataset_num=max(1, len(self.calibration_images)),
            process_ops=self.process_ops or (tools.process_ops_rgb(h, w) if c == 3 else tools.process_ops_y(h, w)),
            graph_partition=self.graph_partition, workspace=Path("deploy_weights"))

    def _build(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg = self.config()
        if cfg.dtype == "int8":
            if not self.calibration_images:
                raise ValueError("int8 needs calibration_images (uint8 HWC) for vamc's quantizer")
            tools.prepare_calibration_set(self.calibration_images, cfg.dataset_path)
        yaml_path = tools.write_yaml(tools.vamc_yaml(cfg), self.workdir / f"{self.name}.yaml")
        n, c, h, w = self.input_shape
        self.vdsp_json = tools.write_json(tools.vdsp_params(w, h, div255=self.input_range == 1.0),
                                          self.workdir / f"{self.name}-vdsp_params.json")
        self._tool(["vamc", "compile", yaml_path.name])
        self.model_prefix = cfg.model_prefix
        if not list((self.workdir / self.model_prefix.parent).glob("mod*")):
            raise ToolError(f"vamc reported success but wrote nothing under {self.workdir / self.model_prefix.parent}",
                            self.commands[-1])

    def run_files(self, arrays: Sequence[np.ndarray], names: Sequence[str]) -> list[np.ndarray]:
        """One vamp accuracy run over a dataset; outputs matched to inputs by name."""
        self.build()
        run_dir = self._next_run_dir()
        inputs = [to_uint8(a.reshape(self.chw) if a.ndim == 4 else a, self.input_range) for a in arrays]
        datalist = run_dir / "npz_datalist.txt"
        run_dir.mkdir(parents=True, exist_ok=True)
        paths = tools.write_npz_inputs(inputs, names, run_dir / "npz", datalist)
        out_dir = run_dir / "npz_output"
        result = self._tool(tools.vamp_argv(self.model_prefix, self.vdsp_json.resolve(), tools.vamp_chw(self.chw),
                                            datalist=datalist.resolve(), path_output=out_dir.resolve()))
        try:
            self.last_perf = parse_vamp(result.output, str(result.log_path))
        except ValueError:
            self.last_perf = None   # an accuracy run need not print the perf summary
        return [o.reshape(self.output_shape) for o in tools.read_npz_outputs(out_dir, paths)]

    def _run(self, x: np.ndarray) -> np.ndarray:
        if tuple(x.shape) not in (self.input_shape, self.chw):
            raise ValueError(f"the deployment was built for {list(self.input_shape)}, got {list(x.shape)}")
        return self.run_files([x], ["in"])[0]

    def perf(self, *, instances: int = 1, processes: int = 1, batch: int = 1) -> VampPerf:
        """vamp's own timing (no datalist), as the guides measure qps and latency percentiles."""
        self.build()
        result = self._tool(tools.vamp_argv(self.model_prefix, self.vdsp_json.resolve(), tools.vamp_chw(self.chw),
                                            instances=instances, processes=processes, batch=batch))
        self.last_perf = parse_vamp(result.output, str(result.log_path))
        return self.last_perf

    def describe(self) -> RunnerInfo:
        return RunnerInfo(self.backend, self.hardware, self.precision, self.input_shape, self.output_shape, {
            "vamc_dtype": self.precision, "calibrate_mode": self.calibrate_mode,
            "calibration_images": len(self.calibration_images) if self.precision == "int8" else 0,
            "input_dtype": "uint8 (vdsp normalises)", "commands": list(self.commands), "logs": list(self.logs),
        })
