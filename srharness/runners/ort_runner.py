"""OrtRunner: an ONNX file in an onnxruntime session (CPU by default; the CUDA or TensorRT
execution provider when the caller passes it)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Runner, RunnerInfo


class OrtRunner(Runner):
    def __init__(self, onnx_path: str | Path, providers: list | None = None, backend_name: str = "ort",
                 precision: str = "fp32", session_options=None):
        super().__init__()
        self.onnx_path = Path(onnx_path)
        self.providers = providers or ["CPUExecutionProvider"]
        self.backend = backend_name
        self.precision = precision
        self.hardware = "cuda" if any("CUDA" in str(p) or "Tensorrt" in str(p) for p in self.providers) else "cpu"
        self.session_options = session_options
        self.session = None
        self._last_shapes: tuple | None = None

    def _build(self) -> None:
        import onnxruntime as ort
        if not self.onnx_path.is_file():
            raise FileNotFoundError(f"{self.onnx_path}: no such ONNX file; export it first (srharness export)")
        self.session = ort.InferenceSession(str(self.onnx_path), sess_options=self.session_options,
                                            providers=self.providers)
        inp = self.session.get_inputs()[0]
        self._input_name = inp.name
        self._input_type = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
                            "tensor(uint8)": np.uint8}.get(inp.type, np.float32)

    def _run(self, x: np.ndarray) -> np.ndarray:
        y = self.session.run(None, {self._input_name: np.ascontiguousarray(x, dtype=self._input_type)})[0]
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
