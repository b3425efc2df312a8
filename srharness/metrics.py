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

The PSNR and SSIM cores are scikit-image's (`peak_signal_noise_ratio`, `structural_similarity`
with gaussian_weights=True, sigma=1.5, use_sample_covariance=False and data_range always given):
equal to the hand-written BasicSR formulas they replaced to 1e-10 dB / 1e-12 on Set5
(tests/test_metrics.py keeps those formulas as the reference). What is ours is the conventions
wrapper: Y conversion, the shave, the range, the identical-image value and the variants.
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
    from skimage.metrics import mean_squared_error
    a, b = _pair(img, ref, crop_border, y_channel)
    return float(mean_squared_error(b, a))


def psnr(img: np.ndarray, ref: np.ndarray, *, data_range: float = 255.0, crop_border: int = 0,
         y_channel: str | None = None, identical: float = math.inf) -> float:
    """PSNR in dB of img against ref (symmetric in its two images): scikit-image's core after our
    conventions (Y, shave, range). Ours only: identical images give `identical` without
    skimage's divide-by-zero warning."""
    from skimage.metrics import mean_squared_error, peak_signal_noise_ratio
    a, b = _pair(img, ref, crop_border, y_channel)
    if mean_squared_error(b, a) == 0:
        return identical
    # data_range is always explicit: skimage would otherwise guess it from the dtype (1 for float)
    return float(peak_signal_noise_ratio(b, a, data_range=data_range))


SSIM_VARIANTS = ("standard", "vamp-joint")
SSIM_WINDOW = 11   # skimage's Gaussian at sigma 1.5 (truncate 3.5): 11 taps, MATLAB's window


def ssim(img: np.ndarray, ref: np.ndarray, *, data_range: float = 255.0, crop_border: int = 0,
         y_channel: str | None = None, ssim_variant: str = "standard") -> float:
    """SSIM (Gaussian 11/1.5, valid region); multi-channel: mean of per-channel SSIM.

    scikit-image's core with the MATLAB settings (gaussian_weights, sigma 1.5,
    use_sample_covariance=False, data_range explicit): it filters a 'same' map and averages it
    with the 5-pixel border cropped, which is MATLAB's 'valid' filtering. "vamp-joint" is the
    same number (see the module docstring), computed the same way."""
    from skimage.metrics import structural_similarity
    if ssim_variant not in SSIM_VARIANTS:
        raise ValueError(f"unknown ssim_variant {ssim_variant!r}; known: {', '.join(SSIM_VARIANTS)}")
    a, b = _pair(img, ref, crop_border, y_channel)
    if min(a.shape[:2]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs at least 11x11 pixels after the border crop, got {a.shape[:2]}")
    return float(structural_similarity(a, b, data_range=data_range, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, channel_axis=-1 if a.ndim == 3 else None))
