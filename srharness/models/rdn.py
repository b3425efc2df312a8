"""RDN, state_dict layout of yjn870/RDN-pytorch (models.py).

Keys: sfe1, sfe2, rdbs.{d}.layers.{c}.conv, rdbs.{d}.lff, gff.{0,1}, upscale.{0[,2]}, output.
D=16 blocks, C=8 layers, G=64 growth, G0=64 features. x2 has 22,123,395 parameters.
PixelShuffle in `upscale` is why the guide exports at opset 9 (no DepthToSpace).
"""
import torch
from torch import nn


class DenseLayer(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=3 // 2)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return torch.cat([x, self.relu(self.conv(x))], 1)


class RDB(nn.Module):
    def __init__(self, in_channels, growth_rate, num_layers):
        super().__init__()
        self.layers = nn.Sequential(*[DenseLayer(in_channels + growth_rate * i, growth_rate)
                                      for i in range(num_layers)])
        self.lff = nn.Conv2d(in_channels + growth_rate * num_layers, growth_rate, kernel_size=1)

    def forward(self, x):
        return x + self.lff(self.layers(x))  # local residual learning


class RDN(nn.Module):
    def __init__(self, scale_factor=2, num_channels=3, num_features=64, growth_rate=64,
                 num_blocks=16, num_layers=8):
        super().__init__()
        if not 2 <= scale_factor <= 4:
            raise ValueError(f"RDN supports x2, x3 and x4, not x{scale_factor}")
        self.G0, self.G, self.D, self.C = num_features, growth_rate, num_blocks, num_layers
        self.sfe1 = nn.Conv2d(num_channels, num_features, kernel_size=3, padding=3 // 2)
        self.sfe2 = nn.Conv2d(num_features, num_features, kernel_size=3, padding=3 // 2)
        self.rdbs = nn.ModuleList([RDB(self.G0, self.G, self.C)])
        for _ in range(self.D - 1):
            self.rdbs.append(RDB(self.G, self.G, self.C))
        self.gff = nn.Sequential(
            nn.Conv2d(self.G * self.D, self.G0, kernel_size=1),
            nn.Conv2d(self.G0, self.G0, kernel_size=3, padding=3 // 2),
        )
        if scale_factor in (2, 4):
            layers = []
            for _ in range(scale_factor // 2):
                layers += [nn.Conv2d(self.G0, self.G0 * 4, kernel_size=3, padding=3 // 2), nn.PixelShuffle(2)]
            self.upscale = nn.Sequential(*layers)
        else:
            self.upscale = nn.Sequential(
                nn.Conv2d(self.G0, self.G0 * scale_factor ** 2, kernel_size=3, padding=3 // 2),
                nn.PixelShuffle(scale_factor),
            )
        self.output = nn.Conv2d(self.G0, num_channels, kernel_size=3, padding=3 // 2)

    def forward(self, x):
        sfe1 = self.sfe1(x)
        x = self.sfe2(sfe1)
        local_features = []
        for rdb in self.rdbs:
            x = rdb(x)
            local_features.append(x)
        x = self.gff(torch.cat(local_features, 1)) + sfe1  # global residual learning
        return self.output(self.upscale(x))
