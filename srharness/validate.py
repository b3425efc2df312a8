"""One validation layer for figures: every number that becomes a figure (parsed from a tool log,
measured, computed, read from a golden or a command line) passes through one of these checks.

A figure that is NaN, infinite, subnormal, zero where it must be positive, a percentage outside
0..100 or a fractional count is never returned: the check raises `FigureError` naming where the
number came from (file and line when known) and the value. A wrong figure with exit 0 is the worst
outcome for a conformance suite (a broken card turns into a green nightly), so there is no default.

    throughput = positive(text_value, "throughput", where="perf.txt line 12")
    share = percentage(cell, "Ratio(%)", where="op_statistic.csv line 4")
"""
from __future__ import annotations

import math
import sys
from srharness.errors import InputError

# The smallest normal double. A positive latency below it is a denormal: its reciprocal (an fps)
# overflows to inf, so it is as wrong as zero.
SMALLEST_NORMAL = sys.float_info.min
# Numbers printed with more digits than this are not figures (a 5000-digit "value" costs
# quadratic time to convert and is always a corrupt or hostile file).
MAX_NUMBER_CHARS = 64


class FigureError(InputError):
    """A number that cannot be a figure; the message names where it came from and the value."""

    def __init__(self, where: str, what: str, value, problem: str):
        self.where, self.what, self.value, self.problem = where, what, value, problem
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}{what} is {_show(value)}: {problem}")


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:60] + f"... ({len(text)} characters)"


def number(value, what: str, where: str = "") -> float:
    """A finite float from a number or its text (bool, None, lists, dicts refused)."""
    if isinstance(value, bool) or value is None:
        raise FigureError(where, what, value, "not a number")
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_CHARS:
            raise FigureError(where, what, value, f"more than {MAX_NUMBER_CHARS} characters, not a figure")
        try:
            x = float(text)
        except ValueError:
            raise FigureError(where, what, value, "not a number") from None
    elif isinstance(value, int):
        if abs(value) > 10 ** 300:
            raise FigureError(where, what, value, "too large to be a figure")
        x = float(value)
    elif isinstance(value, float):
        x = value
    else:
        try:
            import numpy as np
            if isinstance(value, np.generic) and np.issubdtype(type(value), np.number):
                return number(value.item(), what, where)
        except ImportError:  # pragma: no cover
            pass
        raise FigureError(where, what, value, f"a {type(value).__name__}, not a number")
    if not math.isfinite(x):
        raise FigureError(where, what, value, "not a finite number")
    return x


def finite(value, what: str, where: str = "") -> float:
    return number(value, what, where)


def positive(value, what: str, where: str = "") -> float:
    """Throughput, latency, time, size: finite and > 0 (and not a denormal)."""
    x = number(value, what, where)
    if x <= 0:
        raise FigureError(where, what, value, "must be positive")
    if x < SMALLEST_NORMAL:
        raise FigureError(where, what, value, "a denormal number, not a measurement")
    return x


def non_negative(value, what: str, where: str = "") -> float:
    x = number(value, what, where)
    if x < 0:
        raise FigureError(where, what, value, "must not be negative")
    return x


def percentage(value, what: str, where: str = "") -> float:
    x = number(value, what, where)
    if not 0.0 <= x <= 100.0:
        raise FigureError(where, what, value, "a percentage must lie in 0..100")
    return x


def count(value, what: str, where: str = "", minimum: int = 0) -> int:
    """A whole number >= minimum ("4.7" calls is a corrupt file, not 4)."""
    x = number(value, what, where)
    if x != math.floor(x):
        raise FigureError(where, what, value, "a count must be a whole number")
    if x < minimum:
        raise FigureError(where, what, value, f"must be at least {minimum}")
    return int(x)
