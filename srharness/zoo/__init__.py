"""Public SR checkpoints with no code: architecture detection by spandrel, and the deployability
table of the SR architectures spandrel supports.

Needs the optional extra `srharness[zoo]` (spandrel, torchvision); without it every entry point
raises `ZooUnavailable`, which names the extra. Nothing here unpickles: a checkpoint is read by
srharness's own safe loader (srharness.checkpoints) and spandrel only sees its state_dict.
"""
from __future__ import annotations

from srharness.errors import InputError, SrHarnessError

EXTRA = "srharness[zoo]"
INSTALL_HINT = (f"install the optional extra: pip install '{EXTRA}' (on a CPU-only machine with PyPI's torch build; "
                "see README, 'Is my model deployable?')")


class ZooUnavailable(SrHarnessError, RuntimeError):
    """spandrel (or torchvision, which it imports) is not installed or does not import."""


class ZooError(InputError):
    """A checkpoint spandrel cannot turn into a usable image model (unknown architecture, not SR...)."""


def require_spandrel():
    """The spandrel module, or ZooUnavailable naming the extra (torchvision's CUDA/CPU mismatch too)."""
    try:
        import spandrel
    except ImportError as exc:
        raise ZooUnavailable(f"srharness.zoo (checkpoint detection, the deployability table) needs spandrel, which is not installed ({exc}); "
                             f"{INSTALL_HINT}") from None
    except RuntimeError as exc:   # torchvision built for another torch: "operator torchvision::nms does not exist"
        raise ZooUnavailable(f"spandrel does not import here: {str(exc).splitlines()[0]} (torchvision built for a "
                             f"different torch); {INSTALL_HINT}") from None
    return spandrel


def available() -> tuple[bool, str]:
    """(True, "") when the zoo extra works here, else (False, the reason naming the extra)."""
    try:
        require_spandrel()
        return True, ""
    except ZooUnavailable as exc:
        return False, str(exc)


from srharness.zoo.detect import (  # noqa: E402  (detect uses the errors defined above)
    CHECKPOINT_SUFFIXES,
    DetectedCheckpoint,
    detect_checkpoint,
    override,
    register_checkpoint,
)

from srharness.registry import provide  # noqa: E402

provide("checkpoint", register_checkpoint)    # srharness.registry.register_checkpoint (goldens' weights)

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "EXTRA",
    "DetectedCheckpoint",
    "ZooError",
    "ZooUnavailable",
    "available",
    "detect_checkpoint",
    "override",
    "register_checkpoint",
    "require_spandrel",
]
