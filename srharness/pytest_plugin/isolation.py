"""Perf figures comparable between a serial run and `-n auto`: under pytest-xdist a `perf` test runs
alone. Every test of the run holds a shared lock for its whole protocol (setup, call, teardown); a
perf test takes it exclusively, so no other test of the same run executes while it measures.
A turnstile in front of the shared lock gives a waiting perf test priority over tests that start
later (flock has no writer preference of its own).

Every perf figure records how it was measured in its conditions: `run_alone` (True: nothing else of
this run executed meanwhile) and, where that is not so, `concurrent_work` with the reason; history
comparisons do not judge a perf figure measured beside other work (srharness.report.history).
SRHARNESS_PERF_ISOLATION=off turns the exclusive lock off (figures are then marked concurrent).
"""
from __future__ import annotations

import fcntl
import json
import os
import tempfile
from pathlib import Path

import pytest
from srharness import settings

ISOLATION_ENV = "SRHARNESS_PERF_ISOLATION"
_ACTIVE = {"on": False, "workers": 0}   # this process: locks registered; xdist workers of its run


def _workers() -> int:
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)


def enabled() -> bool:
    return settings.env(ISOLATION_ENV, "on").lower() not in ("off", "0", "no", "false")


def configure(config) -> None:
    """Register the locks on xdist workers of a run with more than one worker."""
    _ACTIVE["on"] = False
    # only an xdist worker counts its siblings: a pytest started by a test inherits the variables
    _ACTIVE["workers"] = _workers() if hasattr(config, "workerinput") else 0
    if not hasattr(config, "workerinput") or _workers() < 2 or not enabled():
        return
    folder = Path(tempfile.gettempdir()) / "srharness-isolation"
    folder.mkdir(parents=True, exist_ok=True)
    run = config.workerinput.get("testrunuid", "run")
    config.pluginmanager.register(PerfIsolation(folder / f"{run}.gate", folder / f"{run}.room"),
                                  "srharness-perf-isolation")
    _ACTIVE["on"] = True


def is_perf(item) -> bool:
    return item.get_closest_marker("perf") is not None


class PerfIsolation:
    def __init__(self, gate: Path, room: Path):
        self.gate_path, self.room_path = gate, room

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item, nextitem):
        with open(self.gate_path, "a+") as gate, open(self.room_path, "a+") as room:
            if is_perf(item):
                fcntl.flock(gate, fcntl.LOCK_EX)       # new tests wait at the gate ...
                fcntl.flock(room, fcntl.LOCK_EX)       # ... while the running ones finish
                fcntl.flock(gate, fcntl.LOCK_UN)
            else:
                fcntl.flock(gate, fcntl.LOCK_EX)
                fcntl.flock(gate, fcntl.LOCK_UN)
                fcntl.flock(room, fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(room, fcntl.LOCK_UN)


def measurement_conditions() -> dict:
    """How a perf figure of this process is being measured, for its conditions."""
    workers = _ACTIVE["workers"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    out = {"run_alone": workers < 2 or _ACTIVE["on"], "xdist_workers": workers,
           "host_load_1min": None if load is None else round(load, 2)}
    if not out["run_alone"]:
        out["concurrent_work"] = (f"measured while {workers - 1} other xdist worker(s) of this run could execute "
                                  f"tests ({ISOLATION_ENV}=off)")
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
