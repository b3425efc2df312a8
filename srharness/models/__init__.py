"""Models: one module per architecture (official state_dict layouts), looked up in the model registry.

The specs of the built-in models are registered by `srharness.builtin` through the same public
call a user's package uses (`srharness.registry.register_model`); everything else in srharness
(export, protocols, runners, suites) looks models up here.
"""
from __future__ import annotations

import torch
from torch import nn

from srharness.registry import MODELS, ModelSpec, TorchUnavailable, UnknownName

__all__ = ["MODELS", "ModelSpec", "TorchUnavailable", "UnknownName", "build_model", "count_parameters", "get_model_spec"]


def get_model_spec(name: str) -> ModelSpec:
    """The registered spec; an unknown name raises KeyError naming the known ones."""
    return MODELS.get_entry(name)


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
