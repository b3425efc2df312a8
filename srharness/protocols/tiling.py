"""Running a model tile by tile over a large input."""

from __future__ import annotations

from typing import Callable

import numpy as np


def run_tiled(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, scale: int, tile: int, overlap: int = 16,
              multiple: int = 1) -> np.ndarray:
    """Run a fully convolutional SR model tile by tile (bounded memory for 1080x1920 inputs):
    overlapping input tiles, each output tile's inner part pasted back. `multiple` keeps tile
    origins on the model's stride (SR4K's stride-2 head)."""
    _, _, h, w = x.shape
    if tile >= h and tile >= w:
        return run(x)
    out = None
    step = tile - 2 * overlap
    if step <= 0 or step % multiple or overlap % multiple or tile % multiple:
        raise ValueError(f"tile {tile}, overlap {overlap} must leave a positive step, all multiples of {multiple}")
    for y0 in range(0, h, step):
        for x0 in range(0, w, step):
            ya, xa = max(0, y0 - overlap), max(0, x0 - overlap)
            yb, xb = min(h, y0 + step + overlap), min(w, x0 + step + overlap)
            # keep the tile on the stride grid and inside the image
            ya -= ya % multiple
            xa -= xa % multiple
            y = run(np.ascontiguousarray(x[:, :, ya:yb, xa:xb]))
            if out is None:
                out = np.zeros((x.shape[0], y.shape[1], h * scale, w * scale), dtype=y.dtype)
            ye, xe = min(h, y0 + step), min(w, x0 + step)
            out[:, :, y0 * scale:ye * scale, x0 * scale:xe * scale] = \
                y[:, :, (y0 - ya) * scale:(ye - ya) * scale, (x0 - xa) * scale:(xe - xa) * scale]
    return out
