"""Models: one module per architecture (official state_dict layouts), looked up in the model registry.

The specs of the built-in models are registered by `srharness.builtin` through the same public
call a user's package uses (`srharness.registry.register_model`); everything else in srharness
(export, protocols, runners, suites) looks models up here.
"""
from __future__ import annotations

import torch
from torch import nn

from srharness.errors import SrHarnessError
from srharness.registry import MODELS, ModelSpec, TorchUnavailable, UnknownName

__all__ = ["MODELS", "ModelSpec", "TorchUnavailable", "UnknownName", "build_model", "count_parameters", "get_model_spec", "select_output"]


def get_model_spec(name: str) -> ModelSpec:
    """The registered spec; an unknown name raises KeyError naming the known ones."""
    return MODELS.get_entry(name)


def build_model(name: str, scale: int, seed: int | None = 0) -> nn.Module:
    """The network in eval mode, returning the SR image only (`ModelSpec.sr_output`). With a seed
    (default 0) the random initialisation is the same in every process, so weight-independent
    checks agree across xdist workers and sessions."""
    spec = get_model_spec(name)
    if seed is None:
        return _one_output(spec.build(scale).eval(), spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _one_output(spec.build(scale).eval(), spec)


class OutputSelectionError(SrHarnessError, ValueError):
    """A model returns several outputs and its spec does not say which one is the SR image."""


def select_output(spec, out):
    """The SR image among a model's outputs (a tensor is itself): `spec.sr_output` indexes a
    tuple/list or keys a dict; a tuple without it is an error naming the field."""
    if isinstance(out, torch.Tensor):
        return out
    choice = spec.sr_output
    kind = type(out).__name__
    count = len(out) if hasattr(out, "__len__") else "?"
    if choice is None:
        raise OutputSelectionError(
            f"model {spec.name}: forward returns a {kind} of {count} outputs; say which is the SR image with "
            f"ModelSpec(sr_output=INDEX or NAME) when registering it", subject=spec.name)
    try:
        picked = out[choice] if not isinstance(choice, str) or isinstance(out, dict) else getattr(out, choice)
    except (IndexError, KeyError, AttributeError, TypeError):
        raise OutputSelectionError(f"model {spec.name}: sr_output={choice!r} is not one of its {count} outputs "
                                   f"({kind})", subject=str(choice)) from None
    if not isinstance(picked, torch.Tensor):
        raise OutputSelectionError(f"model {spec.name}: output sr_output={choice!r} is a {type(picked).__name__}, "
                                   "not an image tensor", subject=str(choice))
    return picked


def _selecting_forward(self, *args, **kwargs):
    return select_output(self._sr_spec, type(self).forward(self, *args, **kwargs))


def _one_output(module: nn.Module, spec) -> nn.Module:
    """The module with its `forward` returning the SR image only: the torch runners, the export
    and the training see one output, chosen once. Bound on the instance, so the state_dict keys
    (and checkpoints) are the network's own; a deepcopy rebinds it to the copy."""
    import types
    module._sr_spec = spec
    module.forward = types.MethodType(_selecting_forward, module)
    return module


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
