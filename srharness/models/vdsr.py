"""VDSR, state_dict layout of twtygqyy/pytorch-vdsr (vdsr.py).

Keys: input (64,1,3,3), residual_layer.{0..17}.conv (64,64,3,3), output (1,64,3,3), no biases:
664,704 parameters. Global residual: output = network(x) + x. One model serves every scale
(it refines a bicubic-upscaled Y image).
"""
import math

import torch
from torch import nn


class Conv_ReLU_Block(nn.Module):  # upstream name: the legacy pickle refers to it
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(64, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.conv(x))


class VDSR(nn.Module):
    def __init__(self, num_layers: int = 18):
        super().__init__()
        self.residual_layer = nn.Sequential(*[Conv_ReLU_Block() for _ in range(num_layers)])
        self.input = nn.Conv2d(1, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.output = nn.Conv2d(64, 1, kernel_size=3, stride=1, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        # upstream init (vdsr.py): N(0, sqrt(2/n)); torch's default would shrink the residual
        # branch to ~1e-8 over 20 layers, leaving a random-init VDSR an identity map
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / n))

    def forward(self, x):
        out = self.relu(self.input(x))
        out = self.residual_layer(out)
        out = self.output(out)
        return torch.add(out, x)
