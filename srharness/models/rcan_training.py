"""RCAN as trained by the Ascend training guide: state_dict layout of yjn870/RCAN-pytorch
(model.py), keys sf, rgs.{g}.module.{b}.module.{0,2,3.module.{1,3}}, rgs.{g}.module.{n_rcab},
conv1, upscale.0, conv2. No MeanShift; inputs on [0, 1]. Default 10 groups x 20 RCAB x 64.
"""
from torch import nn


class ChannelAttention(nn.Module):
    def __init__(self, num_features, reduction):
        super().__init__()
        self.module = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(num_features, num_features // reduction, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(num_features // reduction, num_features, kernel_size=1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return x * self.module(x)


class RCAB(nn.Module):
    def __init__(self, num_features, reduction):
        super().__init__()
        self.module = nn.Sequential(
            nn.Conv2d(num_features, num_features, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(num_features, num_features, kernel_size=3, padding=1),
            ChannelAttention(num_features, reduction),
        )

    def forward(self, x):
        return x + self.module(x)


class RG(nn.Module):
    def __init__(self, num_features, num_rcab, reduction):
        super().__init__()
        layers = [RCAB(num_features, reduction) for _ in range(num_rcab)]
        layers.append(nn.Conv2d(num_features, num_features, kernel_size=3, padding=1))
        self.module = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.module(x)


class RCANTraining(nn.Module):
    def __init__(self, scale=2, num_features=64, num_rg=10, num_rcab=20, reduction=16):
        super().__init__()
        self.sf = nn.Conv2d(3, num_features, kernel_size=3, padding=1)
        self.rgs = nn.Sequential(*[RG(num_features, num_rcab, reduction) for _ in range(num_rg)])
        self.conv1 = nn.Conv2d(num_features, num_features, kernel_size=3, padding=1)
        self.upscale = nn.Sequential(
            nn.Conv2d(num_features, num_features * scale ** 2, kernel_size=3, padding=1),
            nn.PixelShuffle(scale),
        )
        self.conv2 = nn.Conv2d(num_features, 3, kernel_size=3, padding=1)

    def forward(self, x):
        x = self.sf(x)
        residual = x
        x = self.conv1(self.rgs(x)) + residual
        return self.conv2(self.upscale(x))
