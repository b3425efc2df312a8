"""OrtRunner: an ONNX file in an onnxruntime session (CPU by default; the CUDA or TensorRT
execution provider when the caller passes it)."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from srharness.errors import InputError

from .base import Runner, RunnerInfo
from srharness import settings

RUN_TIMEOUT_ENV = "SRHARNESS_ORT_TIMEOUT_S"
RUN_TIMEOUT_S = 900.0       # one onnxruntime run (one image); a Loop of 2^62 iterations ends here


class OrtRunError(InputError):
    """onnxruntime refused the file, failed running it, or ran past the time bound."""


class OrtTimeout(OrtRunError, TimeoutError):
    pass


# Intra-op threads of a CPU session built without options of its own (None: onnxruntime's default,
# one spinning thread per core). The pytest plugin gives each xdist worker its share of the cores,
# as it does torch's: two workers each spinning two threads on two cores ran VDSR ~15% slower.
_DEFAULT_THREADS: list[int | None] = [None]


def share_cores(threads: int | None) -> None:
    """Intra-op threads of this process's CPU sessions that set none (None: onnxruntime's default)."""
    _DEFAULT_THREADS[0] = threads


def run_timeout() -> float:
    return settings.seconds(RUN_TIMEOUT_ENV, RUN_TIMEOUT_S, "one onnxruntime run may take", allow_zero=False)


def _first_line(exc: BaseException) -> str:
    text = str(exc).replace("[ONNXRuntimeError] : ", "").strip()
    return (text.splitlines() or [""])[0][:300]


class OrtRunner(Runner):
    def __init__(self, onnx_path: str | Path, providers: list | None = None, backend_name: str = "ort",
                 precision: str = "fp32", session_options=None, output: int | str | None = None,
                 threads: int | None = None):
        super().__init__()
        self.onnx_path = Path(onnx_path)
        self.providers = providers or ["CPUExecutionProvider"]
        self.backend = backend_name
        self.precision = precision
        self.hardware = "cuda" if any("CUDA" in str(p) or "Tensorrt" in str(p) for p in self.providers) else "cpu"
        self.session_options = session_options
        self.threads = threads        # intra-op threads when no session_options (None: this process's share)
        self.session = None
        self.output = output          # which graph output is the SR image (ModelSpec.sr_output)
        self._last_shapes: tuple | None = None

    def _build(self) -> None:
        import onnxruntime as ort
        if not self.onnx_path.is_file():
            raise FileNotFoundError(f"{self.onnx_path}: no such ONNX file; export it first (srharness export)")
        threads = self.threads or (_DEFAULT_THREADS[0] if self.hardware == "cpu" else None)
        if self.session_options is None and threads:
            self.session_options = ort.SessionOptions()
            self.session_options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.onnx_path), sess_options=self.session_options,
                                                providers=self.providers)
        except Exception as exc:   # noqa: BLE001 - InvalidProtobuf, InvalidGraph, NotImplemented, Fail
            raise OrtRunError(f"{self.onnx_path}: onnxruntime cannot load it: {_first_line(exc)}; check the file "
                              "(srharness doctor lists the onnxruntime version) or re-export it",
                              subject=str(self.onnx_path)) from None
        inp = self.session.get_inputs()[0]
        self._input_name = inp.name
        self._input_type = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
                            "tensor(uint8)": np.uint8}.get(inp.type, np.float32)
        names = [o.name for o in self.session.get_outputs()]
        if self.output is None and len(names) > 1:
            from srharness.models import OutputSelectionError
            raise OutputSelectionError(f"{self.onnx_path}: the graph has {len(names)} outputs ({', '.join(names)}); "
                                       "say which is the SR image with ModelSpec(sr_output=INDEX or NAME)",
                                       subject=str(self.onnx_path))
        if isinstance(self.output, str) and self.output not in names:
            from srharness.models import OutputSelectionError
            raise OutputSelectionError(f"{self.onnx_path}: sr_output={self.output!r} is not a graph output "
                                       f"({', '.join(names)})", subject=self.output)
        if isinstance(self.output, int) and not -len(names) <= self.output < len(names):
            from srharness.models import OutputSelectionError
            raise OutputSelectionError(f"{self.onnx_path}: sr_output={self.output} but the graph has {len(names)} "
                                       "outputs", subject=str(self.output))
        self._output_names = [names[self.output] if isinstance(self.output, int) else self.output or names[0]]

    def _run(self, x: np.ndarray) -> np.ndarray:
        import onnxruntime as ort
        limit = run_timeout()
        options = ort.RunOptions()
        options.log_severity_level = 4       # its failure comes back as our one-line error
        timer = threading.Timer(limit, setattr, (options, "terminate", True))
        timer.daemon = True
        timer.start()
        try:
            y = self.session.run(self._output_names, {self._input_name: np.ascontiguousarray(x, dtype=self._input_type)},
                                 options)[0]
        except Exception as exc:   # noqa: BLE001 - onnxruntime's Fail / InvalidArgument / RuntimeException
            if options.terminate:
                raise OrtTimeout(f"{self.onnx_path}: onnxruntime run timed out after {limit:g} s (input "
                                 f"{tuple(x.shape)}); a model that loops or is far too slow for this input "
                                 f"(raise {RUN_TIMEOUT_ENV} if it is only slow)", subject=str(self.onnx_path)) from None
            raise OrtRunError(f"{self.onnx_path}: onnxruntime failed on input {tuple(x.shape)}: {_first_line(exc)}",
                              subject=str(self.onnx_path)) from None
        finally:
            timer.cancel()
        self._last_shapes = (tuple(x.shape), tuple(y.shape))
        return y.astype(np.float32, copy=False)

    def describe(self) -> RunnerInfo:
        import onnxruntime as ort
        shapes = self._last_shapes or (None, None)
        return RunnerInfo(self.backend, self.hardware, self.precision, shapes[0], shapes[1],
                          {"onnxruntime": ort.__version__, "onnx": str(self.onnx_path),
                           "providers": self.session.get_providers() if self.session else list(map(str, self.providers))})

    def close(self) -> None:
        self.session = None
        self._built = False
