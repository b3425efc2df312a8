"""ESPCN: efficient sub-pixel convolution (Shi et al., "Real-Time Single Image and Video
Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network", CVPR 2016).

Y channel of the low-resolution image in ([0, 1]), Y channel at scale x the size out: three
convolutions at LR resolution (5x5 1->64, 3x3 64->32, 3x3 32->s^2, tanh between) and a
PixelShuffle that rearranges the s^2 channels into an s x s block per pixel.
"""
from __future__ import annotations

from torch import nn


class ESPCN(nn.Module):
    def __init__(self, scale: int = 3, channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 64, 5, padding=2), nn.Tanh(),
            nn.Conv2d(64, 32, 3, padding=1), nn.Tanh(),
        )
        self.to_subpixels = nn.Conv2d(32, channels * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x):
        return self.shuffle(self.to_subpixels(self.features(x)))
