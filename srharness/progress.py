"""Progress for commands and fixtures that take more than a few seconds: on stderr, and only where a
person watches (stderr is a terminal), never with --json or --quiet, so pipes and logs stay clean.

`status(text)`: a spinner with elapsed time for one long step (export, calibration, a timed run).
`track(iterable, text, total)`: a bar over items (images evaluated, figures, phases).
`step()`: one step of a long loop is done (an image evaluated, a calibration input read, a lock
polled). Under a pytest-xdist run a perf test that waits to time alone pauses this test here, so it
waits for one step of the other tests, not their whole length (srharness.pytest_plugin.isolation).
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Callable, Iterable, Iterator, TypeVar
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


# step(): its listener (pytest's perf isolation sets it) and how many device locks this process
# holds: a test holding a device (srharness.perf.device_lock) never pauses, or a measurement waiting
# for it to pause could wait for itself
_STEP_LISTENER: list[Callable[[], None] | None] = [None]
_NO_PAUSE = [0]


def step() -> None:
    listener = _STEP_LISTENER[0]
    if listener is not None and not _NO_PAUSE[0]:
        listener()


def on_step(listener: Callable[[], None] | None) -> None:
    """Set the listener step() calls (None: none)."""
    _STEP_LISTENER[0] = listener


@contextlib.contextmanager
def no_pause() -> Iterator[None]:
    """Inside the block step() never pauses this process (held devices)."""
    _NO_PAUSE[0] += 1
    try:
        yield
    finally:
        _NO_PAUSE[0] -= 1
