"""The shared base of the vendor-log parsers (ascend_logs, vacc_logs, tensorrt_logs; the registry is
srharness.tools.logs): the error, the bounded number pattern, line splitting, figure checks.

Each parser takes the text and the name of where it came from and returns a dataclass. A log
that lacks a figure the parser needs raises `LogParseError` naming the source and what was
missing: a figure is never defaulted to zero. Every figure passes `srharness.validate` (finite,
throughput and latency > 0, percentages in 0..100, counts whole) or the parser raises
`LogParseError` naming the file, the line and the value. The exact samples are in fixtures/logs/.

Hostile input: every parser runs in linear time. Lines are split with `str` methods and each
number is matched with an unambiguous, length-bounded pattern (no nested or overlapping
quantifiers); lines longer than MAX_LINE_CHARS are never a summary line and are skipped; a file
over MAX_LOG_BYTES is refused. A figure printed twice with different values (two `[infer]` lines,
two `throughput (qps)` lines) is an error: which run it belongs to cannot be known.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from srharness import validate
from srharness.errors import InputError
from srharness.validate import FigureError

# Unambiguous (each character has one place to go) and bounded, so matching is linear.
_NUM = r"[-+]?(?:\d{1,40}(?:\.\d{0,40})?|\.\d{1,40})(?:[eE][-+]?\d{1,4})?"
_NUM_RX = re.compile(_NUM)
MAX_LINE_CHARS = 64 * 1024         # a summary line is < 1 KB; longer lines are progress bars or junk
MAX_LOG_BYTES = 256 * 1024 * 1024  # parse_file refuses larger files


class LogParseError(InputError):
    """A tool log that does not hold what its parser needs."""

    def __init__(self, source: str, tool: str, missing: str, hint: str = ""):
        self.source, self.tool, self.missing = source, tool, missing
        msg = f"{source}: not a usable {tool} log: {missing}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg, subject=source)


def _figure(check: Callable, value, source: str, tool: str, what: str):
    """`check` (a srharness.validate function) on one value, as a LogParseError naming the file."""
    try:
        return check(value, what)
    except FigureError as exc:
        raise LogParseError(source, tool, f"{exc.what} is {validate._show(value)}: {exc.problem}") from None


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) for the lines short enough to be a tool's summary line."""
    for n, line in enumerate(text.splitlines(), start=1):
        if len(line) <= MAX_LINE_CHARS:
            yield n, line


def _set_once(store: dict, key: str, value, source: str, tool: str, where: str, first_where: dict) -> None:
    """A figure printed twice must agree with itself; a conflicting repeat is an error."""
    if key in store and store[key] != value:
        raise LogParseError(source, tool, f"{where}: {key} is {value!r}, but {first_where[key]} gave {store[key]!r}",
                            "a log holds one run; split the file or parse the run you mean")
    if key not in store:
        store[key], first_where[key] = value, where


def _pairs(rest: str, sep: str) -> Iterator[tuple[str, str]]:
    """`key<sep> value, key<sep> value` -> (key, value text), by splitting (linear)."""
    for piece in rest.split(","):
        key, found, value = piece.partition(sep)
        if found:
            yield key.strip(), value.strip()


class _Record:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)



# the statistics keys of ais_bench and trtexec 8+: min, max, mean, median, percentile(N%) -> pN
_STAT_KEY = re.compile(r"min|max|mean|median|percentile\((\d{1,3})%\)")


def _stat_key(key: str) -> str | None:
    m = _STAT_KEY.fullmatch(key)
    if not m:
        return None
    return f"p{m[1]}" if m[1] else key


def _check_order(stats: dict[str, float], source: str, tool: str, what: str,
                 keys: tuple[str, ...] = ("mean", "median")) -> None:
    """min <= mean, median <= max: a block that breaks it is corrupt, whatever its numbers."""
    lo, hi = stats.get("min"), stats.get("max")
    if lo is None or hi is None:
        return
    for key in keys:
        v = stats.get(key)
        if v is not None and not (lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)):
            raise LogParseError(source, tool, f"{what}: {key} {v!r} lies outside min {lo!r} .. max {hi!r}")




def read_log(path: str | Path, tool: str) -> str:
    """A log file's text: refused (LogParseError) if it is not a regular file or is too large."""
    path = Path(path)
    try:
        if path.exists() and not path.is_file():   # a folder, a FIFO or /dev/zero would never end
            raise LogParseError(str(path), tool, "not a regular file; give the log file itself")
        size = path.stat().st_size
        if size > MAX_LOG_BYTES:
            raise LogParseError(str(path), tool, f"the file is {size} bytes, more than {MAX_LOG_BYTES}: not a tool log")
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise LogParseError(str(path), tool, f"cannot read the file ({exc.strerror or exc})") from None
