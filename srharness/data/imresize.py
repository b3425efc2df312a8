"""Image resizing, one named function per convention the guides and benchmarks use.

- `matlab_imresize`: MATLAB's `imresize(im, scale, 'bicubic')` (Keys cubic, a = -0.5, kernel
  widened by 1/scale when shrinking = antialiasing, symmetric border extension, the dimension
  that shrinks most resized first, uint8 rounded after every pass). This is the resize of the
  standard SR benchmark (Set5/Set14 LR files, VDSR .mat files, BasicSR's `imresize`).
- `pil_bicubic`: PIL `Image.resize(..., BICUBIC)` (a = -0.5, antialiased support, uint8 per
  pass). The yjn870 SRCNN/RDN test scripts and the Ascend guides copied from them.
- `cv2_resize`: OpenCV `cv2.resize` (bilinear by default, cubic a = -0.75, no antialiasing).
  The VastAI guides (VDSR GT and input to 256x256, RCAN GT to the output size).

Borders: MATLAB's imresize.m extends the image symmetrically. The SelfExSR Set5 LR PNGs (the
oracle in tests/test_imresize.py) match our symmetric resize exactly in the interior but differ
by up to 7 grey levels in the outer 1-3 pixels on all four sides; with replicate extension they
match bit-exactly everywhere, so their generator clamped taps to the edge pixel instead of
mirroring. Both are offered (`border=`); symmetric is the default, as MATLAB does.
"""
from __future__ import annotations

import math

import numpy as np

_CUBIC_SUPPORT = 4.0  # MATLAB's kernel width for 'bicubic'


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic with a = -0.5, exactly as MATLAB's imresize `cubic`."""
    absx = np.abs(x)
    absx2, absx3 = absx ** 2, absx ** 3
    return ((1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1)
            + (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * ((absx > 1) & (absx <= 2)))


def _contributions(in_len: int, out_len: int, scale: float, antialias: bool, border: str) -> np.ndarray:
    """Dense (out_len, in_len) weight matrix, after MATLAB imresize.m `contributions`.

    Sample positions are 1-based: output pixel x maps to u = x/scale + 0.5*(1 - 1/scale).
    Taps that fall outside the image are mirrored (border="symmetric": MATLAB's imresize, edge
    pixel repeated in the mirror) or clamped to the edge pixel (border="replicate"); their
    weights accumulate onto that pixel.
    """
    if scale < 1 and antialias:
        kernel = lambda t: scale * _cubic(scale * t)  # noqa: E731
        width = _CUBIC_SUPPORT / scale
    else:
        kernel, width = _cubic, _CUBIC_SUPPORT
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]          # 1-based source indices
    w = kernel(u[:, None] - idx)
    w = w / w.sum(axis=1, keepdims=True)
    idx0 = idx.astype(np.int64) - 1
    if border == "symmetric":
        mirror = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
        src = mirror[np.mod(idx0, 2 * in_len)]
    elif border == "replicate":
        src = np.clip(idx0, 0, in_len - 1)
    else:
        raise ValueError(f"border must be 'symmetric' or 'replicate', not {border!r}")
    m = np.zeros((out_len, in_len), dtype=np.float64)
    np.add.at(m, (np.repeat(np.arange(out_len), taps), src.ravel()), w.ravel())
    return m


def _round_uint8(x: np.ndarray) -> np.ndarray:
    # MATLAB rounds half away from zero; values here are >= 0 after the clip.
    return np.floor(np.clip(x, 0, 255) + 0.5).astype(np.uint8)


def matlab_imresize(img: np.ndarray, scale: float | None = None, *, output_shape: tuple[int, int] | None = None,
                    antialias: bool = True, border: str = "symmetric", rounding: str = "per-pass") -> np.ndarray:
    """MATLAB `imresize(img, scale)` with the bicubic kernel.

    img: HxW or HxWxC, uint8 (result uint8) or float (result float64, never rounded).
    rounding (uint8 only): "per-pass" rounds after each 1-D pass, as MATLAB's imresizemex does
    (bit-exact with MATLAB's files, tests/test_imresize.py); "final" rounds once at the end, as
    re-implementations written from the published algorithm do (e.g. the independent
    MATLAB-style VDSR computation of issue 3). They differ by at most 1 grey level. Give `scale` (e.g. 1/2) or `output_shape` (H, W);
    with a scale the output size is ceil(in * scale), as MATLAB computes it.
    border: "symmetric" is what MATLAB's imresize.m does; "replicate" (edge pixel repeated)
    reproduces the SelfExSR Set5 LR files bit-exactly, borders included (tests/test_imresize.py).
    """
    if rounding not in ("per-pass", "final"):
        raise ValueError(f"rounding must be 'per-pass' or 'final', not {rounding!r}")
    if (scale is None) == (output_shape is None):
        raise ValueError("give exactly one of scale or output_shape")
    h, w = img.shape[:2]
    if output_shape is None:
        out_h, out_w = int(math.ceil(h * scale)), int(math.ceil(w * scale))
        scales = (float(scale), float(scale))
    else:
        out_h, out_w = output_shape
        scales = (out_h / h, out_w / w)
    is_uint8 = img.dtype == np.uint8
    out = img.astype(np.float64)
    # MATLAB resizes the dimension with the smaller scale first (ties: rows first).
    order = (0, 1) if scales[0] <= scales[1] else (1, 0)
    for dim in order:
        n_out = (out_h, out_w)[dim]
        m = _contributions(out.shape[dim], n_out, scales[dim], antialias, border)
        out = np.tensordot(m, out, axes=([1], [dim]))       # resized axis comes first
        out = np.moveaxis(out, 0, dim)
        if is_uint8 and rounding == "per-pass":
            out = _round_uint8(out).astype(np.float64)
    return _round_uint8(out) if is_uint8 else out


def pil_bicubic(img: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """PIL `Image.resize((W, H), Image.BICUBIC)` on a uint8 HxW or HxWx3 array."""
    from PIL import Image
    if img.dtype != np.uint8:
        raise TypeError(f"pil_bicubic takes uint8 images (PIL mode L/RGB), got {img.dtype}")
    return np.asarray(Image.fromarray(img).resize(tuple(size_wh), Image.BICUBIC))


def cv2_resize(img: np.ndarray, size_wh: tuple[int, int], interpolation: str = "bilinear") -> np.ndarray:
    """OpenCV `cv2.resize(img, (W, H))`; the default interpolation is bilinear, as in the guides
    that call cv2.resize without the argument."""
    import cv2
    flags = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC, "area": cv2.INTER_AREA,
             "nearest": cv2.INTER_NEAREST}
    return cv2.resize(img, tuple(int(v) for v in size_wh), interpolation=flags[interpolation])


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so H and W are multiples of scale (MATLAB `modcrop`)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]
