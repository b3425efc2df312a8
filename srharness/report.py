"""Evidence for the report: Allure labels, titles and attachments, and the run summary.

Every function here is a no-op when allure-pytest is not active, so checks call them freely.
(API fixed; implementation being written.)
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def label(**labels: str | None) -> None:
    """Allure labels: model=, check=, hardware=, precision=, dataset=, protocol=, backend=."""


def title(text: str) -> None:
    """Dynamic test title, e.g. "RDN x2 - ascend om - Set5 - PSNR 38.27 vs golden 38.18 (rule: >= -1%)"."""


def attach_text(name: str, text: str) -> None:
    """Plain text evidence: a vendor tool's raw log, a command line."""


def attach_json(name: str, obj: Any) -> None:
    """JSON evidence: an ONNX op census, a parsed tool log, conditions."""


def attach_file(path, name: str | None = None) -> None:
    """A file as evidence (type from its suffix)."""


def attach_image_panel(name: str, *, sr: np.ndarray, hr: np.ndarray, bicubic: np.ndarray | None = None,
                       psnr: float | None = None) -> None:
    """One PNG panel: bicubic | SR | HR | error heatmap, with PSNR. Arrays HxW or HxWxC, uint8 or [0,1] float."""


def attach_latency_plot(name: str, latencies_ms: Sequence[float]) -> None:
    """Latency distribution (histogram and per-iteration trace) as PNG."""
