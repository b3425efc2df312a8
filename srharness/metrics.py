"""PSNR and SSIM with every convention an explicit argument (the one place they are defined).

Modelled on BasicSR `basicsr/metrics/psnr_ssim.py` (`calculate_psnr`, `calculate_ssim`, `_ssim`),
which reproduces the MATLAB benchmark code:

- inputs are on [0, data_range] (default 255), HxW or HxWxC, any dtype; computed in float64;
- `crop_border` pixels are removed from every side first (the "shave");
- `y_channel`: None compares the arrays as given (all channels jointly for PSNR, per channel
  and averaged for SSIM); "matlab" / "y256" / "opencv" first convert RGB to that Y
  (`srharness.data.colour`);
- PSNR = 10 log10(data_range^2 / MSE); identical images give +inf (BasicSR) or, with
  `identical=100.0`, the 100 dB some guides print;
- SSIM: Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03, "valid" filtering (5 px lost per
  side), per channel then mean (MATLAB ssim_index / BasicSR).
- `ssim_variant="vamp-joint"` reproduces the VastAI RCAN eval bug: its 3-channel loop passes
  the whole HxWx3 image each time, so each pass is one SSIM map over all channels at once
  (cv2.filter2D filters each channel; the mean is taken over H, W and C together). Because
  every channel has the same number of pixels that mean equals the mean of the per-channel
  SSIMs, so the bug does not move the number (tests/test_metrics.py proves it); what does move
  the guide's figure is its other bug, printing the last image's SSIM as the "mean".
"""
from __future__ import annotations

import math

import numpy as np

from srharness.data.colour import to_y


def _prepare(img: np.ndarray, crop_border: int, y_channel: str | None, name: str) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3):
        raise ValueError(f"{name}: expected HxW or HxWxC, got shape {img.shape}")
    if y_channel is not None:
        img = to_y(img, y_channel)
    img = img.astype(np.float64)
    if crop_border:
        if 2 * crop_border >= min(img.shape[:2]):
            raise ValueError(f"{name}: crop_border {crop_border} leaves nothing of a {img.shape[:2]} image")
        img = img[crop_border:-crop_border, crop_border:-crop_border]
    return img


def _pair(a, b, crop_border, y_channel):
    if np.shape(a) != np.shape(b):
        raise ValueError(f"image shapes differ: {np.shape(a)} vs {np.shape(b)}")
    return _prepare(a, crop_border, y_channel, "img"), _prepare(b, crop_border, y_channel, "ref")


def mse(img: np.ndarray, ref: np.ndarray, *, crop_border: int = 0, y_channel: str | None = None) -> float:
    a, b = _pair(img, ref, crop_border, y_channel)
    return float(np.mean((a - b) ** 2))


def psnr(img: np.ndarray, ref: np.ndarray, *, data_range: float = 255.0, crop_border: int = 0,
         y_channel: str | None = None, identical: float = math.inf) -> float:
    """PSNR in dB of img against ref (symmetric in its two images)."""
    err = mse(img, ref, crop_border=crop_border, y_channel=y_channel)
    if err == 0:
        return identical
    return 10.0 * math.log10(data_range ** 2 / err)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    ax = np.arange(size) - (size - 1) / 2
    g = np.exp(-(ax ** 2) / (2 * sigma ** 2))
    g /= g.sum()
    return np.outer(g, g)


def _filter_valid(x: np.ndarray, window: np.ndarray) -> np.ndarray:
    """2-D correlation keeping only fully covered positions (MATLAB filter2 'valid')."""
    from scipy.signal import fftconvolve
    # The window is symmetric, so convolution equals correlation.
    if x.ndim == 2:
        return fftconvolve(x, window, mode="valid")
    return np.stack([fftconvolve(x[..., c], window, mode="valid") for c in range(x.shape[2])], axis=-1)


def _ssim_map(a: np.ndarray, b: np.ndarray, data_range: float) -> np.ndarray:
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    w = _gaussian_window()
    mu1, mu2 = _filter_valid(a, w), _filter_valid(b, w)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = _filter_valid(a * a, w) - mu1_sq
    s2 = _filter_valid(b * b, w) - mu2_sq
    s12 = _filter_valid(a * b, w) - mu12
    return ((2 * mu12 + c1) * (2 * s12 + c2)) / ((mu1_sq + mu2_sq + c1) * (s1 + s2 + c2))


SSIM_VARIANTS = ("standard", "vamp-joint")


def ssim(img: np.ndarray, ref: np.ndarray, *, data_range: float = 255.0, crop_border: int = 0,
         y_channel: str | None = None, ssim_variant: str = "standard") -> float:
    """SSIM (Gaussian 11/1.5, valid filtering); multi-channel: mean of per-channel SSIM."""
    if ssim_variant not in SSIM_VARIANTS:
        raise ValueError(f"unknown ssim_variant {ssim_variant!r}; known: {', '.join(SSIM_VARIANTS)}")
    a, b = _pair(img, ref, crop_border, y_channel)
    if min(a.shape[:2]) < 11:
        raise ValueError(f"SSIM needs at least 11x11 pixels after the border crop, got {a.shape[:2]}")
    if a.ndim == 2 or ssim_variant == "vamp-joint":
        return float(_ssim_map(a, b, data_range).mean())
    return float(np.mean([_ssim_map(a[..., c], b[..., c], data_range).mean() for c in range(a.shape[2])]))
