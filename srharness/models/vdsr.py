"""VDSR, state_dict layout of twtygqyy/pytorch-vdsr (vdsr.py).

Keys: input (64,1,3,3), residual_layer.{0..17}.conv (64,64,3,3), output (1,64,3,3), no biases:
664,704 parameters. Global residual: output = network(x) + x. One model serves every scale
(it refines a bicubic-upscaled Y image).
"""
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

    def forward(self, x):
        out = self.relu(self.input(x))
        out = self.residual_layer(out)
        out = self.output(out)
        return torch.add(out, x)
