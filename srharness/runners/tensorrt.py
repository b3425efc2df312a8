"""TensorRT runner through `trtexec` (the guides' T4 baseline tool): the build run saves the engine
and prints the timing the guides read (GPU Compute mean), later runs load the engine and feed an
input file, the output coming back through `--exportOutput`. trtexec stays the guides' own timing
command line; where the `tensorrt` Python module is installed, TensorRTApiRunner builds and runs
the engine through the API instead (outputs as device buffers, no JSON text dumps) and
`tensorrt_pipeline` times it with srharness.perf_gpu. Torch on CUDA and onnxruntime's CUDA/TensorRT
providers: srharness.runners.torch_runner and ort_gpu.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from srharness.runners.base import Runner, RunnerInfo, VendorToolRunner
from srharness.tools import tensorrt as tools
from srharness.tools.tensorrt_logs import TrtexecPerf, parse_trtexec


class TensorRTRunner(VendorToolRunner):
    backend = "tensorrt"
    tools_run_in_workdir = True   # trtexec resolve relative paths from the working folder
    hardware = "cuda"

    def __init__(self, onnx_path: Path, *, input_name: str, input_shape: Sequence[int], workdir: Path,
                 precision: str = "fp16", timeout: float = 1800):
        super().__init__(onnx_path, workdir, timeout, input_shape=input_shape)
        self.input_name = input_name
        self.precision = precision
        self.build_perf: TrtexecPerf | None = None
        self.version: tuple[int, int, int] | None = None
        self.build_flags: list[str] = []

    def _build(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.version = tools.trtexec_version()
        self.dynamic = tools.onnx_input_is_dynamic(self.onnx_path)
        self.engine = self.workdir / f"{self.onnx_path.stem}_{self.precision}.engine"
        onnx = self.onnx_path
        if tools.needs_fp16_onnx(self.precision, self.version):   # TensorRT 11: strongly typed
            from srharness.quantize import to_fp16
            onnx = to_fp16(self.onnx_path, self.workdir / f"{self.onnx_path.stem}.fp16.onnx")
        self.build_flags = tools.precision_flags(self.precision, self.version)
        result = self._tool(tools.trtexec_build_argv(onnx.resolve(), self.engine.resolve(),
                                                     precision=self.precision, input_name=self.input_name,
                                                     input_shape=self.input_shape, dynamic=self.dynamic,
                                                     version=self.version))
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
            "tensorrt": tools.version_text(self.version), "trtexec_flags": list(self.build_flags),
            "timing_mode": tools.timing_mode(self.version, self.build_flags) if self.version else None,
            "commands": list(self.commands), "logs": list(self.logs),
        })


# ---------------------------------------------------------------- the Python API
def require_tensorrt() -> None:
    from srharness.hardware import module_present
    from srharness.runners.device import GpuUnavailable
    if not module_present("tensorrt"):
        raise GpuUnavailable("the TensorRT Python API is not installed (looked for the `tensorrt` module; "
                             "pip install tensorrt on a GPU host); trtexec stays the guides' timing command")


def _torch_dtype(trt_dtype):
    import tensorrt as trt
    import torch
    table = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int8: torch.int8, trt.int32: torch.int32}
    if hasattr(trt, "bfloat16"):
        table[trt.bfloat16] = torch.bfloat16
    return table[trt_dtype]


class TensorRTApiRunner(Runner):   # no command-line tool involved
    """A TensorRT engine built and run through the `tensorrt` Python API on torch's CUDA stream.
    Outputs come back as device tensors (no `--exportOutput` JSON text); the engine is cached in
    `workdir` keyed by file, precision and shape."""
    backend = "tensorrt"
    hardware = "cuda"

    def __init__(self, onnx_path: Path, *, input_shape: Sequence[int], precision: str = "fp16",
                 workdir: Path | None = None, input_name: str | None = None):
        super().__init__()
        if precision not in ("fp32", "fp16"):
            raise ValueError(f"precision {precision!r}: fp32 or fp16")
        self.onnx_path = Path(onnx_path)
        self.input_shape = tuple(int(d) for d in input_shape)
        self.precision = precision
        self.workdir = Path(workdir) if workdir else self.onnx_path.parent
        self.output_shape: tuple[int, ...] | None = None
        self.engine_path: Path | None = None

    def _build(self) -> None:
        require_tensorrt()
        from srharness.runners.device import require_cuda
        require_cuda("tensorrt")
        import tensorrt as trt
        import torch
        self.trt_version = trt.__version__
        logger = trt.Logger(trt.Logger.WARNING)
        self.workdir.mkdir(parents=True, exist_ok=True)
        shape_tag = "x".join(map(str, self.input_shape))
        self.engine_path = self.workdir / f"{self.onnx_path.stem}_{self.precision}_{shape_tag}_trt{trt.__version__}.plan"
        runtime = trt.Runtime(logger)
        if self.engine_path.is_file():
            engine = runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        else:
            engine = runtime.deserialize_cuda_engine(self._build_serialized(trt, logger))
        if engine is None:
            raise RuntimeError(f"{self.engine_path}: TensorRT could not deserialize the engine; delete it to rebuild")
        self.engine = engine
        self.context = engine.create_execution_context()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"{self.onnx_path}: expected one input and one output, got {inputs} -> {outputs}")
        self.input_name, self.output_name = inputs[0], outputs[0]
        self.context.set_input_shape(self.input_name, self.input_shape)
        self.output_shape = tuple(self.context.get_tensor_shape(self.output_name))
        self.in_dtype = _torch_dtype(engine.get_tensor_dtype(self.input_name))
        self.out_dtype = _torch_dtype(engine.get_tensor_dtype(self.output_name))
        self.x_buf = torch.empty(self.input_shape, dtype=self.in_dtype, device="cuda")
        self.y_buf = torch.empty(self.output_shape, dtype=self.out_dtype, device="cuda")
        self.context.set_tensor_address(self.input_name, self.x_buf.data_ptr())
        self.context.set_tensor_address(self.output_name, self.y_buf.data_ptr())

    def _build_serialized(self, trt, logger) -> bytes:
        from srharness.fileio import atomic_path
        builder = trt.Builder(logger)
        flags = 0
        if int(trt.__version__.split(".")[0]) < 10:        # TensorRT 8/9: explicit batch is a flag
            flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        major = int(trt.__version__.split(".")[0])
        onnx = self.onnx_path
        if self.precision == "fp16" and major >= 11:   # BuilderFlag.FP16 is gone: the network's types rule
            from srharness.quantize import to_fp16
            onnx = to_fp16(self.onnx_path, self.workdir / f"{self.onnx_path.stem}.fp16.onnx")
        if not parser.parse(onnx.read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise RuntimeError(f"{self.onnx_path}: TensorRT's ONNX parser failed: {errors}")
        config = builder.create_builder_config()
        if self.precision == "fp16" and major < 11:
            config.set_flag(trt.BuilderFlag.FP16)
        if self.precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):   # TF32 is on by default
            config.clear_flag(trt.BuilderFlag.TF32)
        inp = network.get_input(0)
        if any(d < 0 for d in inp.shape):                  # dynamic axes: one profile at the run shape
            profile = builder.create_optimization_profile()
            profile.set_shape(inp.name, self.input_shape, self.input_shape, self.input_shape)
            config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise RuntimeError(f"{self.onnx_path}: TensorRT failed to build a {self.precision} engine (see its log above)")
        data = bytes(serialized)
        with atomic_path(self.engine_path) as tmp:
            Path(tmp).write_bytes(data)
        return data

    def infer_device(self, x):
        """x: a CUDA tensor of the engine's input shape -> the engine's output buffer (enqueued on
        torch's current stream; valid until the next call)."""
        import torch
        if tuple(x.shape) != self.input_shape:
            raise ValueError(f"the engine was built for {list(self.input_shape)}, got {list(x.shape)}")
        if x.data_ptr() != self.x_buf.data_ptr():
            self.x_buf.copy_(x)
        if not self.context.execute_async_v3(torch.cuda.current_stream().cuda_stream):
            raise RuntimeError(f"{self.engine_path}: TensorRT execute_async_v3 failed")
        return self.y_buf

    def _run(self, x: np.ndarray) -> np.ndarray:
        import torch
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to("cuda")
        y = self.infer_device(t.to(self.in_dtype)).float().cpu().numpy()
        if not np.all(np.isfinite(y)):
            from srharness.runners.torch_runner import NonFiniteOutput
            raise NonFiniteOutput(f"tensorrt {self.precision}: NaN/Inf in the output of {self.engine_path}")
        return y

    def describe(self) -> RunnerInfo:
        return RunnerInfo(self.backend, self.hardware, self.precision, self.input_shape, self.output_shape, {
            "engine": str(self.engine_path), "api": "tensorrt Python API",
            "tensorrt": getattr(self, "trt_version", None)})


def tensorrt_pipeline(onnx_path: Path, input_shape, input_range: float, options=None, *, workdir=None, **kw):
    """A DevicePipeline (srharness.perf_gpu) around a TensorRTApiRunner."""
    from srharness.runners.device import DevicePipeline, GpuOptions

    class TensorRTPipeline(DevicePipeline):
        supports = ("uint8_io", "pinned")
        label = "tensorrt"

        @property
        def compute_dtype(self):
            return self.runner.in_dtype

        def _setup(self):
            self.runner = TensorRTApiRunner(onnx_path, input_shape=input_shape, workdir=workdir,
                                            precision="fp16" if self.options.precision == "fp16" else "fp32").build()

        def _infer(self, x):
            return self.runner.infer_device(x)

        def conditions(self):
            return {**super().conditions(), **self.runner.describe().details}

    return TensorRTPipeline(input_shape, input_range, options or GpuOptions(), **kw)
