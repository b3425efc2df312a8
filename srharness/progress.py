"""Progress for commands and fixtures that take more than a few seconds: on stderr, and only where a
person watches (stderr is a terminal), never with --json or --quiet, so pipes and logs stay clean.

`status(text)`: a spinner with elapsed time for one long step (export, calibration, a timed run).
`track(iterable, text, total)`: a bar over items (images evaluated, figures, phases).
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterable, Iterator, TypeVar
from srharness import settings

T = TypeVar("T")
QUIET_ENV = "SRHARNESS_QUIET"   # 1: no progress anywhere (set by --quiet / --json)


def enabled() -> bool:
    return sys.stderr.isatty() and settings.env(QUIET_ENV, "") not in ("1", "true", "yes")


def quiet(on: bool = True) -> None:
    """Turn progress off for this process and its children (--json, --quiet)."""
    if on:
        os.environ[QUIET_ENV] = "1"


@contextlib.contextmanager
def status(text: str) -> Iterator[None]:
    if not enabled():
        yield
        return
    from rich.console import Console
    with Console(stderr=True).status(text, spinner="dots"):
        yield


def track(items: Iterable[T], text: str, total: int | None = None) -> Iterable[T]:
    if not enabled():
        return items
    from tqdm import tqdm
    return tqdm(items, desc=text, total=total, file=sys.stderr, leave=False, dynamic_ncols=True)
