"""Training data as the Ascend RCAN guide prepares it (PROTOCOLS.md section B), for any folder
of HR images.

- Every HR image is cut into non-overlapping square tiles of `patch * scale` pixels (96 for the
  guide's patch 48 at x2), keeping only tiles with x + tile < w and y + tile < h (the guide's
  strict inequality: the last column/row touching the border is dropped).
- A training sample is a tile with random horizontal and vertical flips, the LR made from it by
  PIL BICUBIC resize to `patch`, both as float tensors on [0, 1] (/255).

The flips of sample `index` in epoch `epoch` come from a generator keyed on (seed, epoch, index),
never from a global RNG: the same sample gets the same flips whatever the number of processes,
data-loader workers or where a resumed run starts, which is what makes 1-vs-N-process agreement
and exact resume possible.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from srharness.data.datasets import Dataset, DatasetError, embedded, folder_dataset
from srharness.data.imresize import pil_bicubic


class TrainingDataError(DatasetError):
    """Training images that cannot make a batch; the message names the files and the fix."""


def training_dataset(data_dir: str | Path | None) -> Dataset:
    """The HR images of a folder, or scikit-image's embedded photographs when none is given
    (srharness.data.datasets readers: DatasetError names a missing, empty or unreadable folder)."""
    return embedded() if data_dir is None else folder_dataset(data_dir, name=Path(data_dir).name)


def cut_tiles(image: np.ndarray, tile: int) -> np.ndarray:
    """Non-overlapping `tile` x `tile` crops with x + tile < w and y + tile < h, row-major: (N, tile, tile, 3)."""
    h, w = image.shape[:2]
    tiles = [image[y:y + tile, x:x + tile]
             for y in range(0, h, tile) if y + tile < h
             for x in range(0, w, tile) if x + tile < w]
    if not tiles:
        return np.empty((0, tile, tile, 3), np.uint8)
    return np.stack(tiles)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> 3xHxW float32 on [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0)


class TileDataset(torch.utils.data.Dataset):
    """HR tiles of a set of images; items are addressed by (epoch, index) so the flips are keyed."""

    def __init__(self, images: Dataset, patch: int = 48, scale: int = 2, seed: int = 0):
        self.patch, self.scale, self.seed = patch, scale, seed
        self.tile = patch * scale
        self.source = f"{images.name} ({images.root})"
        chunks, too_small = [], []
        for sample in images:
            tiles = cut_tiles(sample.hr(), self.tile)
            if len(tiles) == 0:
                too_small.append(sample.source or sample.name)
            chunks.append(tiles)
        if len(too_small) == len(images):
            names = ", ".join(too_small[:3])
            raise TrainingDataError(
                f"patch {patch} at x{scale} needs HR tiles of {self.tile}x{self.tile} and images larger than "
                f"that (x + {self.tile} < width, y + {self.tile} < height), but no image is: {names}"
                f"{' ...' if len(too_small) > 3 else ''}; use a smaller --patch or larger images")
        self.tiles = np.concatenate(chunks)
        self.images = len(images)
        self.skipped = too_small  # images smaller than one tile contribute nothing

    def __len__(self) -> int:
        return len(self.tiles)

    def flips(self, epoch: int, index: int) -> tuple[bool, bool]:
        rng = np.random.default_rng([self.seed, epoch, index])
        h, v = rng.random(2) < 0.5
        return bool(h), bool(v)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = key
        hr = self.tiles[index]
        flip_h, flip_v = self.flips(epoch, index)
        if flip_h:
            hr = hr[:, ::-1]
        if flip_v:
            hr = hr[::-1]
        hr = np.ascontiguousarray(hr)
        lr = pil_bicubic(hr, (self.patch, self.patch))
        return to_tensor(lr), to_tensor(hr)
