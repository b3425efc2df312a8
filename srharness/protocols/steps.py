"""The image steps a protocol is made of: layout, resize, Y extraction, rounding."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from srharness.data import colour
from srharness.data.imresize import cv2_resize, matlab_imresize, pil_bicubic


@dataclass
class Prepared:
    """One image made ready for the model, with what the score needs."""
    name: str
    input: np.ndarray                 # NCHW, float32 (or uint8 for rcan-vacc), batch 1
    reference: np.ndarray             # reference image in the metric's space
    bicubic: np.ndarray | None        # the bicubic baseline in the metric's space (panels, sanity)
    context: dict[str, Any] = field(default_factory=dict)


def model_kind(spec) -> str:
    if spec.in_channels == 1:
        return "y-lr" if spec.upsamples else "y-hr"
    return "rgb" if spec.upsamples else "rgb-hr"


def _nchw(img: np.ndarray, dtype=np.float32) -> np.ndarray:
    """HxW or HxWxC -> 1xCxHxW."""
    if img.ndim == 2:
        img = img[..., None]
    return np.ascontiguousarray(img.transpose(2, 0, 1)[None]).astype(dtype)


def _hwc(out: np.ndarray) -> np.ndarray:
    """1xCxHxW (or CxHxW) -> HxWxC, or HxW for one channel; float64."""
    out = np.asarray(out, dtype=np.float64)
    if out.ndim == 4:
        out = out[0]
    out = out.transpose(1, 2, 0)
    return out[..., 0] if out.shape[2] == 1 else out


def _resize(img: np.ndarray, size_wh: tuple[int, int], how: str, rounding: str = "per-pass") -> np.ndarray:
    if how == "pil-bicubic":
        return pil_bicubic(img, size_wh)
    if how.startswith("opencv-"):
        return cv2_resize(img, size_wh, how.removeprefix("opencv-"))
    return matlab_imresize(img, output_shape=(size_wh[1], size_wh[0]),
                           rounding=rounding if rounding != "none" else "per-pass")


def _y(img: np.ndarray, convention: str) -> np.ndarray:
    """Y plane: float64 for matlab / y256, uint8 (as OpenCV gives it) for opencv."""
    if convention == "opencv":
        if img.dtype != np.uint8:
            img = np.asarray(img, dtype=np.float32)
        return colour.opencv_ycrcb(img)[..., 0]
    return colour.matlab_y(img) if convention == "matlab" else colour.y256(img)


def _round(img: np.ndarray) -> np.ndarray:
    return np.floor(img + 0.5)
