"""Perf figures comparable between a serial run and `-n auto`: under pytest-xdist a `perf` test runs
alone. Every test of the run holds a shared lock for its whole protocol (setup, call, teardown); a
perf test takes it exclusively, so no other test of the same run executes while it measures.
A turnstile in front of the shared lock gives a waiting perf test priority over tests that start
later (flock has no writer preference of its own).

Every perf figure records how it was measured in its conditions: `run_alone` (True: nothing else of
this run executed meanwhile) and, where that is not so, `concurrent_work` with the reason; history
comparisons do not judge a perf figure measured beside other work (srharness.report.history).
SRHARNESS_PERF_ISOLATION=off turns the exclusive lock off (figures are then marked concurrent).

A perf test marked `perf(alone="measurement")` (srharness.checks.perf) holds the shared lock like any
other test and is alone only inside `alone()`, around each timed loop: its export, calibration and
builds run beside the other workers' tests (they measure nothing), so the other cores idle only
while it times. Such a test's figures say run_alone only if every one was timed inside `alone()`.

While such a measurement waits for the room (a third lock, `.measure`, says so), the other workers'
tests pause at their next `srharness.progress.step()` (an evaluated image, a calibration input, a
lock poll) and resume when it is done: the measurement waits for one step of each, not for the
rest of a long test. A test never pauses while it holds a device lock (srharness.perf.device_lock).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from pathlib import Path

import pytest
from srharness import settings

ISOLATION_ENV = "SRHARNESS_PERF_ISOLATION"
# this process: locks registered; xdist workers of its run; the registered PerfIsolation
_ACTIVE = {"on": False, "workers": 0, "plugin": None}


def _workers() -> int:
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)


def enabled() -> bool:
    return settings.env(ISOLATION_ENV, "on").lower() not in ("off", "0", "no", "false")


def configure(config) -> None:
    """Register the locks on xdist workers of a run with more than one worker."""
    _ACTIVE["on"], _ACTIVE["plugin"] = False, None
    from srharness import progress
    progress.on_step(None)
    # only an xdist worker counts its siblings: a pytest started by a test inherits the variables
    _ACTIVE["workers"] = _workers() if hasattr(config, "workerinput") else 0
    if not hasattr(config, "workerinput") or _workers() < 2 or not enabled():
        return
    folder = Path(tempfile.gettempdir()) / "srharness-isolation"
    folder.mkdir(parents=True, exist_ok=True)
    run = config.workerinput.get("testrunuid", "run")
    plugin = PerfIsolation(folder / f"{run}.gate", folder / f"{run}.room", folder / f"{run}.measure")
    config.pluginmanager.register(plugin, "srharness-perf-isolation")
    _ACTIVE["on"], _ACTIVE["plugin"] = True, plugin
    from srharness import progress
    progress.on_step(plugin.pause_for_measurement)


def is_perf(item) -> bool:
    return item.get_closest_marker("perf") is not None


def alone_for_measurement_only(item) -> bool:
    """A perf test that is exclusive only inside `alone()` (marker `perf(alone="measurement")`)."""
    marker = item.get_closest_marker("perf")
    return marker is not None and marker.kwargs.get("alone") == "measurement"


@contextlib.contextmanager
def alone():
    """No other test of this run executes inside the block (a no-op without isolation, or where the
    whole test already runs alone)."""
    plugin = _ACTIVE["plugin"]
    room = plugin.narrow_room if plugin is not None else None
    if room is None:
        yield
        return
    gate = plugin.narrow_gate
    fcntl.flock(room, fcntl.LOCK_UN)           # give up this test's shared hold (before any wait) ...
    plugin.hold = None
    with open(plugin.measure_path, "a+") as measure:
        fcntl.flock(gate, fcntl.LOCK_EX)       # ... take the gate as a perf test does ...
        # ... and say a measurement is next: the others pause at their next step (only while the gate
        # is this test's, so no whole-test perf test can be in the room while they wait)
        fcntl.flock(measure, fcntl.LOCK_EX)
        fcntl.flock(room, fcntl.LOCK_EX)
        fcntl.flock(gate, fcntl.LOCK_UN)
        plugin.hold = "exclusive"
        try:
            yield
        finally:
            plugin.alone_blocks += 1
            fcntl.flock(room, fcntl.LOCK_UN)
            plugin.hold = None
            fcntl.flock(measure, fcntl.LOCK_UN)
    fcntl.flock(gate, fcntl.LOCK_EX)           # back to a shared hold, through the gate
    fcntl.flock(gate, fcntl.LOCK_UN)
    fcntl.flock(room, fcntl.LOCK_SH)
    plugin.hold = "shared"


class PerfIsolation:
    PAUSE_POLL_S = 0.02

    def __init__(self, gate: Path, room: Path, measure: Path):
        self.gate_path, self.room_path, self.measure_path = gate, room, measure
        self.narrow_gate = self.narrow_room = None      # open while a measurement-only test runs
        self.alone_blocks = 0                           # alone() blocks run by that test
        self.room = None                                # the running test's room file ...
        self.hold = None                                # ... and its hold on it: "shared", "exclusive"

    def _measurement_waits(self) -> bool:
        with open(self.measure_path, "a+") as measure:
            try:
                fcntl.flock(measure, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(measure, fcntl.LOCK_UN)
            return False

    def pause_for_measurement(self) -> None:
        """At a step of a test holding the room shared: while a perf measurement waits or runs, give
        the room up and take it back after (srharness.progress.step)."""
        if self.hold != "shared" or not self._measurement_waits():
            return
        room = self.room
        fcntl.flock(room, fcntl.LOCK_UN)
        self.hold = None
        while True:                                 # until no measurement waits and the room is open
            time.sleep(self.PAUSE_POLL_S)
            if self._measurement_waits():
                continue
            try:
                fcntl.flock(room, fcntl.LOCK_SH | fcntl.LOCK_NB)
                break
            except BlockingIOError:                 # a whole-test perf test holds it: wait as a new test would
                fcntl.flock(room, fcntl.LOCK_SH)
                break
        self.hold = "shared"

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item, nextitem):
        with open(self.gate_path, "a+") as gate, open(self.room_path, "a+") as room:
            narrow = alone_for_measurement_only(item)
            if is_perf(item) and not narrow:
                fcntl.flock(gate, fcntl.LOCK_EX)       # new tests wait at the gate ...
                fcntl.flock(room, fcntl.LOCK_EX)       # ... while the running ones finish
                fcntl.flock(gate, fcntl.LOCK_UN)
                self.hold = "exclusive"
            else:
                fcntl.flock(gate, fcntl.LOCK_EX)
                fcntl.flock(gate, fcntl.LOCK_UN)
                fcntl.flock(room, fcntl.LOCK_SH)
                self.hold = "shared"
            self.room = room
            if narrow:
                self.narrow_gate, self.narrow_room, self.alone_blocks = gate, room, 0
            try:
                yield
            finally:
                fcntl.flock(room, fcntl.LOCK_UN)
                self.narrow_gate = self.narrow_room = self.room = self.hold = None


def measurement_conditions() -> dict:
    """How a perf figure of this process is being measured, for its conditions."""
    workers = _ACTIVE["workers"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    plugin = _ACTIVE["plugin"]
    untimed_alone = plugin is not None and plugin.narrow_room is not None and not plugin.alone_blocks
    out = {"run_alone": workers < 2 or (_ACTIVE["on"] and not untimed_alone), "xdist_workers": workers,
           "host_load_1min": None if load is None else round(load, 2)}
    if not out["run_alone"]:
        why = "it timed outside isolation.alone()" if untimed_alone else f"{ISOLATION_ENV}=off"
        out["concurrent_work"] = (f"measured while {workers - 1} other xdist worker(s) of this run could execute "
                                  f"tests ({why})")
    return out


def mark_concurrent_figures(item) -> None:
    """Stamp the measurement conditions on the perf figures this test recorded (before its report is made)."""
    if not is_perf(item):
        return
    from srharness.records import VERDICT_PROPERTY
    stamp = measurement_conditions()
    for i, (name, value) in enumerate(item.user_properties):
        if name != VERDICT_PROPERTY:
            continue
        d = json.loads(value)
        if d.get("check") != "perf":
            continue
        d["conditions"] = {**(d.get("conditions") or {}), **stamp}
        d.pop("verdict", None)
        from srharness.records import Verdict
        item.user_properties[i] = (name, Verdict.from_dict(d).to_json())
