"""Model inputs, made one way: NCHW float32 on the model's range, either seeded uniform noise or a
centre crop of a real image (its Y channel for a one-channel model). `srharness.deploy.make_input`
is the API (it takes a model spec and checks the shape); this leaf is what it, the exporter's
tracing example and the device pipelines' input pools draw from, so no layer makes its own."""
from __future__ import annotations

import numpy as np

from srharness.errors import UsageError


def random_input(shape, input_range: float = 1.0, seed: int = 0) -> np.ndarray:
    """Uniform noise in [0, input_range), float32, deterministic per seed: random data avoids
    denormal/zero shortcuts in timing and exercises every weight in agreement checks."""
    rng = np.random.default_rng(seed)
    return (rng.random(tuple(int(d) for d in shape), dtype=np.float32) * input_range).astype(np.float32)


def crop_input(image: np.ndarray, h: int, w: int, in_channels: int, input_range: float = 1.0,
               where: str = "image") -> np.ndarray:
    """The centre h x w crop of an RGB uint8 image as a 1CHW input: the MATLAB Y channel for a
    one-channel model, the RGB planes otherwise, scaled from [0, 255] to [0, input_range]. A crop
    larger than the image is refused (a smaller crop would be a wrong figure)."""
    from srharness.data.colour import matlab_y
    rgb = np.asarray(image)
    if rgb.ndim != 3 or rgb.shape[0] < h or rgb.shape[1] < w:
        raise UsageError(f"{where} is {'x'.join(map(str, rgb.shape[:2]))}: no {h}x{w} crop of it; ask for a smaller "
                         "crop", subject=f"{h}x{w}")
    top, left = (rgb.shape[0] - h) // 2, (rgb.shape[1] - w) // 2
    crop = rgb[top:top + h, left:left + w]
    planes = matlab_y(crop)[None] if in_channels == 1 else crop.transpose(2, 0, 1)
    return np.ascontiguousarray(planes[None].astype(np.float32) / 255.0 * input_range, dtype=np.float32)
