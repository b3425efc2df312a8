"""RCAN, state_dict layout of yulunzhang/RCAN (RCAN_TestCode/code/model/{rcan,common}.py),
and its "SR4K" modification from the VastAI guide (rcan_modify.py / common_modify.py).

Full RCAN keys: sub_mean, head.0, body.{g}.body.{b}.body.{0,2} (RCAB convs; 1 is ReLU),
body.{g}.body.{b}.body.3.conv_du.{0,2} (channel attention), body.{g}.body.{n_resblocks}
(group tail conv), body.{n_resgroups} (body end conv), tail.0.{0,2,..} (upsampler convs),
tail.1, add_mean. x2 10/20/64: 15,444,667 parameters including the two MeanShifts (24).

SR4K differs in three ways (PROTOCOLS.md C): no channel attention (RCAB body is conv, ReLU,
conv), a stride-2 head, and an upsampler called with scale*2 that is one conv to (2s)^2*n
followed by PixelShuffle(2s). So x2 needs even input H and W. Inputs are on [0, rgb_range].
"""
import math

import torch
from torch import nn

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def default_conv(in_channels, out_channels, kernel_size, stride=1, bias=True):
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                     padding=kernel_size // 2, bias=bias)


class MeanShift(nn.Conv2d):
    """Fixed 1x1 conv that subtracts (sign=-1) or adds (sign=+1) the DIV2K mean.

    Upstream sets `self.requires_grad = False`, which is only a module attribute: the weight and
    bias stay trainable parameters and are in the state_dict (kept so here for exact layout).
    """

    def __init__(self, rgb_range, rgb_mean=DIV2K_RGB_MEAN, rgb_std=(1.0, 1.0, 1.0), sign=-1):
        super().__init__(3, 3, kernel_size=1)
        std = torch.tensor(rgb_std)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1) / std.view(3, 1, 1, 1))
            self.bias.copy_(sign * rgb_range * torch.tensor(rgb_mean) / std)
        self.requires_grad = False


class CALayer(nn.Module):
    def __init__(self, channel, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channel, channel // reduction, 1, padding=0, bias=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(channel // reduction, channel, 1, padding=0, bias=True),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return x * self.conv_du(self.avg_pool(x))


class RCAB(nn.Module):
    def __init__(self, n_feat, kernel_size, reduction, channel_attention=True):
        super().__init__()
        body = [default_conv(n_feat, n_feat, kernel_size), nn.ReLU(True),
                default_conv(n_feat, n_feat, kernel_size)]
        if channel_attention:
            body.append(CALayer(n_feat, reduction))
        self.body = nn.Sequential(*body)

    def forward(self, x):
        return self.body(x) + x


class ResidualGroup(nn.Module):
    def __init__(self, n_feat, kernel_size, reduction, n_resblocks, channel_attention=True):
        super().__init__()
        body = [RCAB(n_feat, kernel_size, reduction, channel_attention) for _ in range(n_resblocks)]
        body.append(default_conv(n_feat, n_feat, kernel_size))
        self.body = nn.Sequential(*body)

    def forward(self, x):
        return self.body(x) + x


class Upsampler(nn.Sequential):
    """yulunzhang common.Upsampler: log2(scale) stages of conv(n, 4n)+PixelShuffle(2), or one
    conv(n, 9n)+PixelShuffle(3). With single_stage=True (SR4K common_modify) any scale in 2..4
    is one conv(n, s^2 n)+PixelShuffle(s)."""

    def __init__(self, scale, n_feat, single_stage=False):
        layers = []
        if single_stage:
            if scale not in (2, 3, 4):
                raise ValueError(f"SR4K upsampler supports 2, 3, 4, not {scale}")
            layers += [default_conv(n_feat, scale * scale * n_feat, 3), nn.PixelShuffle(scale)]
        elif scale & (scale - 1) == 0:
            for _ in range(int(math.log2(scale))):
                layers += [default_conv(n_feat, 4 * n_feat, 3), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [default_conv(n_feat, 9 * n_feat, 3), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"RCAN upsampler supports 2^n and 3, not {scale}")
        super().__init__(*layers)


class RCAN(nn.Module):
    def __init__(self, scale=2, n_resgroups=10, n_resblocks=20, n_feats=64, reduction=16,
                 rgb_range=255, n_colors=3, channel_attention=True, sr4k=False):
        super().__init__()
        kernel_size = 3
        self.sub_mean = MeanShift(rgb_range)
        # SR4K: head at stride 2, tail upsamples by 2*scale in one stage.
        self.head = nn.Sequential(default_conv(n_colors, n_feats, kernel_size, stride=2 if sr4k else 1))
        body = [ResidualGroup(n_feats, kernel_size, reduction, n_resblocks, channel_attention)
                for _ in range(n_resgroups)]
        body.append(default_conv(n_feats, n_feats, kernel_size))
        self.body = nn.Sequential(*body)
        self.tail = nn.Sequential(
            Upsampler(scale * 2 if sr4k else scale, n_feats, single_stage=sr4k),
            default_conv(n_feats, n_colors, kernel_size),
        )
        self.add_mean = MeanShift(rgb_range, sign=1)

    def forward(self, x):
        x = self.head(self.sub_mean(x))
        x = self.tail(self.body(x) + x)
        return self.add_mean(x)
