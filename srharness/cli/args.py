"""Shared argparse types: every numeric option is checked when the command line is parsed.

An option that is NaN, infinite, negative where it must not be, or out of its range stops the
command before anything runs (before a device lock is taken, a file written or a model built),
with argparse's own message naming the option and the value:

    srharness bench: error: argument --min-seconds: 'nan' is not a finite number

    p.add_argument("--min-seconds", type=non_negative_float, default=1.0)
    p.add_argument("--shape", type=shape, metavar="HxW")
"""
from __future__ import annotations

import argparse
import math

from srharness.deploy import MAX_PIXELS, MAX_SIDE  # noqa: F401  (the bounds live with the one shape parser)

MAX_INT = 10 ** 9
MAX_SECONDS = 7 * 24 * 3600.0
MAX_SCALE = 16       # the model spec has the final word (srharness.cli.model_spec)


def _float(text: str) -> float:
    try:
        x = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return x


def _int(text: str) -> int:
    try:
        x = int(str(text).strip())
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if abs(x) > MAX_INT:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range (at most {MAX_INT})")
    return x


def finite_float(text: str) -> float:
    return _float(text)


def positive_float(text: str) -> float:
    x = _float(text)
    if x <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return x


def non_negative_float(text: str) -> float:
    x = _float(text)
    if x < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return x


def seconds(text: str) -> float:
    """A duration in seconds: finite, >= 0, at most a week."""
    x = non_negative_float(text)
    if x > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{text!r} seconds is more than a week")
    return x


def percentage(text: str) -> float:
    x = _float(text)
    if not 0 <= x <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage in 0..100")
    return x


def fraction(text: str) -> float:
    """A ratio such as a coefficient of variation: finite, > 0."""
    return positive_float(text)


def int_range(lo: int | None = None, hi: int | None = None, what: str = "") -> callable:
    """An int type with bounds, e.g. int_range(1, 64) for threads."""
    def parse(text: str) -> int:
        x = _int(text)
        if lo is not None and x < lo or hi is not None and x > hi:
            bounds = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            raise argparse.ArgumentTypeError(f"{text!r} is out of range ({what + ' ' if what else ''}{bounds})")
        return x
    parse.__name__ = "integer"
    return parse


positive_int = int_range(1)
non_negative_int = int_range(0)


def scale(text: str) -> int:
    """An upscaling factor 1..MAX_SCALE; the command then checks it against the model's own scales."""
    x = _int(text)
    if not 1 <= x <= MAX_SCALE:
        raise argparse.ArgumentTypeError(f"scale {text!r} is out of range (1..{MAX_SCALE})")
    return x


def shape(text: str) -> tuple[int, int]:
    """'HxW' (or 'H,W'): srharness.deploy.parse_shape, the one shape parser, as an argparse type."""
    from srharness.deploy import parse_shape
    from srharness.errors import UsageError
    try:
        return parse_shape(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def opset(text: str) -> int:
    """An ONNX opset the installed torch exporter can write and onnxruntime can run."""
    x = _int(text)
    lo, hi = opset_range()
    if not lo <= x <= hi:
        raise argparse.ArgumentTypeError(f"opset {x} is outside what the installed exporter supports ({lo}..{hi})")
    return x


def opset_range() -> tuple[int, int]:
    """(lowest, highest) opset of the installed torch.onnx exporter, capped by onnxruntime's."""
    lo, hi = 7, 20
    try:
        from torch.onnx import _constants
        lo = max(lo, getattr(_constants, "ONNX_MIN_OPSET", lo))
        hi = getattr(_constants, "ONNX_MAX_OPSET", hi)
    except ImportError:
        pass
    try:   # onnxruntime cannot run a model from an opset newer than the onnx it was built with
        import onnx.defs
        hi = min(hi, onnx.defs.onnx_opset_version())
    except ImportError:
        pass
    return lo, hi


def legacy_opset_max() -> int:
    """The highest opset torch's TorchScript (legacy) exporter writes."""
    try:
        from torch.onnx import _constants
        return int(getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", 20))
    except ImportError:
        return 20


def name_list(text: str) -> list[str]:
    """A comma-separated list of names with no empty entry ('' and 'a,,b' refused)."""
    names = [n.strip() for n in (text or "").split(",")]
    if not text or not text.strip() or any(not n for n in names):
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated names, none empty")
    return names
