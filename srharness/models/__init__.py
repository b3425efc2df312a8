"""Model registry: one `ModelSpec` per system under test (SPEC.md, "The five systems").

A spec says how to build the network for a scale, what its input looks like on the guide's
accelerator, at which opset the guide exports it, and where its state_dict layout comes from.
Everything else in srharness (export, protocols, runners, suites) looks models up here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from .rcan import RCAN
from .rcan_training import RCANTraining
from .rdn import RDN
from .srcnn import SRCNN
from .vdsr import VDSR


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable[[int], nn.Module]
    scales: tuple[int, ...]
    reference: str                 # upstream repository whose state_dict layout we match
    in_channels: int               # 1 = Y channel, 3 = RGB
    input_range: float             # 1.0 for [0,1] inputs, 255.0 for [0,255]
    upsamples: bool                # False: works at HR size on a bicubic-upscaled input
    guide_input_shape: tuple[int, ...]  # NCHW on the guide's accelerator
    guide_opset: int               # opset the guide exports at
    guide_input_name: str = "input"
    guide_output_name: str = "output"
    input_multiple: int = 1        # H and W must be multiples of this (SR4K's stride-2 head)
    test_shape: tuple[int, int] = (32, 32)  # small H x W for fast weight-independent checks
    param_count: dict[int, int] = field(default_factory=dict)  # scale -> parameters (incl. buffers-as-params)

    def build(self, scale: int) -> nn.Module:
        if scale not in self.scales:
            raise ValueError(f"{self.name} is defined for scales {list(self.scales)}, not x{scale}")
        return self.builder(scale)

    def output_shape(self, scale: int, h: int, w: int) -> tuple[int, int]:
        return (h * scale, w * scale) if self.upsamples else (h, w)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            name="srcnn", builder=lambda s: SRCNN(), scales=(2, 3, 4),
            reference="yjn870/SRCNN-pytorch@064dbaac models.py", in_channels=1, input_range=1.0,
            upsamples=False, guide_input_shape=(1, 1, 256, 256), guide_opset=9,
            guide_input_name="input.1", guide_output_name="11",
            param_count={2: 57_281, 3: 57_281, 4: 57_281},
        ),
        ModelSpec(
            name="vdsr", builder=lambda s: VDSR(), scales=(2, 3, 4),
            reference="twtygqyy/pytorch-vdsr@514b0210 vdsr.py", in_channels=1, input_range=1.0,
            upsamples=False, guide_input_shape=(1, 1, 256, 256), guide_opset=10,
            param_count={2: 664_704, 3: 664_704, 4: 664_704},
        ),
        ModelSpec(
            name="rdn", builder=lambda s: RDN(scale_factor=s), scales=(2, 3, 4),
            reference="yjn870/RDN-pytorch models.py", in_channels=3, input_range=1.0,
            upsamples=True, guide_input_shape=(1, 3, 114, 114), guide_opset=9,
            guide_input_name="image", guide_output_name="class", test_shape=(24, 24),
            param_count={2: 22_123_395},
        ),
        ModelSpec(
            name="rcan", builder=lambda s: RCAN(scale=s), scales=(2, 3, 4),
            reference="yulunzhang/RCAN@3339ebc5 RCAN_TestCode/code/model/rcan.py", in_channels=3,
            input_range=255.0, upsamples=True, guide_input_shape=(1, 3, 1080, 1920), guide_opset=9,
            test_shape=(16, 16), param_count={2: 15_444_667},
        ),
        ModelSpec(
            name="rcan-sr4k", builder=lambda s: RCAN(scale=s, n_resgroups=3, n_resblocks=2, n_feats=32,
                                                     channel_attention=False, sr4k=True),
            scales=(2,), reference="VastModelZOO rcan_modify.py (yulunzhang/RCAN, CA removed)",
            in_channels=3, input_range=255.0, upsamples=True, guide_input_shape=(1, 3, 1080, 1920),
            guide_opset=9, input_multiple=2, param_count={2: 297_723},
        ),
        ModelSpec(
            name="rcan-sr4k-lite", builder=lambda s: RCAN(scale=s, n_resgroups=2, n_resblocks=2, n_feats=16,
                                                          channel_attention=False, sr4k=True),
            scales=(2,), reference="VastModelZOO rcan_modify.py, RCAN2 config 2 2 16",
            in_channels=3, input_range=255.0, upsamples=True, guide_input_shape=(1, 3, 1080, 1920),
            guide_opset=9, input_multiple=2, param_count={2: 63_547},
        ),
        ModelSpec(
            name="rcan-training", builder=lambda s: RCANTraining(scale=s), scales=(2, 3, 4),
            reference="yjn870/RCAN-pytorch@0cba4c71 model.py", in_channels=3, input_range=1.0,
            upsamples=True, guide_input_shape=(16, 3, 48, 48), guide_opset=9, test_shape=(16, 16),
        ),
    ]
}


def get_model_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None


def build_model(name: str, scale: int, seed: int | None = 0) -> nn.Module:
    """The network in eval mode. With a seed (default 0) the random initialisation is the same
    in every process, so weight-independent checks agree across xdist workers and sessions."""
    spec = get_model_spec(name)
    if seed is None:
        return spec.build(scale).eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return spec.build(scale).eval()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
