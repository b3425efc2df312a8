"""OrtRunner: an ONNX file in an onnxruntime session (CPU by default; the CUDA or TensorRT
execution provider when the caller passes it)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Runner, RunnerInfo


class OrtRunner(Runner):
    def __init__(self, onnx_path: str | Path, providers: list | None = None, backend_name: str = "ort",
                 precision: str = "fp32", session_options=None, output: int | str | None = None):
        super().__init__()
        self.onnx_path = Path(onnx_path)
        self.providers = providers or ["CPUExecutionProvider"]
        self.backend = backend_name
        self.precision = precision
        self.hardware = "cuda" if any("CUDA" in str(p) or "Tensorrt" in str(p) for p in self.providers) else "cpu"
        self.session_options = session_options
        self.session = None
        self.output = output          # which graph output is the SR image (ModelSpec.sr_output)
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
        y = self.session.run(self._output_names, {self._input_name: np.ascontiguousarray(x, dtype=self._input_type)})[0]
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
