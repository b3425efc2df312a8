"""Colour conversions the SR protocols use, each named after where it comes from.

All take HxWx3 arrays on [0, 255] (uint8 or float) in the channel order named by the function
and return float64 on [0, 255] unless said otherwise.

- `matlab_y`: MATLAB `rgb2ycbcr` luma, BT.601 studio swing 16..235:
  Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255. The benchmark Y (VDSR .mat `im_gt_y`,
  BasicSR `bgr2ycbcr(y_only=True)`, the Ascend RCAN training eval's `16 + 65.481 R ...` on [0,1]).
- `y256`: Y = 16 + (64.738 R + 129.057 G + 25.064 B) / 256, as yjn870's SRCNN/RDN utils and the
  Ascend copies write it (64.738, not BT.601's 65.738; the guides' figures depend on it).
- `opencv_y`: `cv2.cvtColor(RGB2YCrCb)[..., 0]`, full swing Y = 0.299 R + 0.587 G + 0.114 B,
  rounded to uint8 for uint8 input (OpenCV), as the VastAI VDSR guide uses.
"""
from __future__ import annotations

import numpy as np

_MATLAB_Y = np.array([65.481, 128.553, 24.966]) / 255.0
_Y256 = np.array([64.738, 129.057, 25.064]) / 256.0


def _check_rgb(img: np.ndarray) -> None:
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 image, got shape {img.shape}")


def matlab_y(rgb: np.ndarray) -> np.ndarray:
    """MATLAB rgb2ycbcr luma (16..235) of an RGB image on [0, 255], unrounded float64."""
    _check_rgb(rgb)
    return 16.0 + rgb.astype(np.float64) @ _MATLAB_Y


def y256(rgb: np.ndarray) -> np.ndarray:
    """yjn870 `convert_rgb_to_y` (64.738 / 256 coefficients) of an RGB image on [0, 255]."""
    _check_rgb(rgb)
    return 16.0 + rgb.astype(np.float64) @ _Y256


def opencv_ycrcb(rgb: np.ndarray) -> np.ndarray:
    """cv2.cvtColor(rgb, COLOR_RGB2YCrCb): uint8 in, uint8 out (channels Y, Cr, Cb)."""
    import cv2
    _check_rgb(rgb)
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YCrCb)


def opencv_y(rgb: np.ndarray) -> np.ndarray:
    """Y plane of OpenCV YCrCb (full swing), as float64."""
    return opencv_ycrcb(rgb)[..., 0].astype(np.float64)


def rgb_to_bgr(img: np.ndarray) -> np.ndarray:
    """Swap the first and last channel (the same operation converts BGR to RGB)."""
    _check_rgb(img)
    return np.ascontiguousarray(img[..., ::-1])


bgr_to_rgb = rgb_to_bgr

Y_CONVERSIONS = {"matlab": matlab_y, "y256": y256, "opencv": opencv_y}


def to_y(rgb: np.ndarray, convention: str) -> np.ndarray:
    """Y by convention name ("matlab", "y256", "opencv"); a 2-D image is taken as already Y."""
    if rgb.ndim == 2:
        return rgb.astype(np.float64)
    try:
        return Y_CONVERSIONS[convention](rgb)
    except KeyError:
        raise ValueError(f"unknown Y convention {convention!r}; known: {', '.join(Y_CONVERSIONS)}") from None
