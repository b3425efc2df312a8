"""xdist scheduling by measured durations: longest first, so the workers finish together.

Under `pytest -n N` the controller records each test's duration (setup + call + teardown) in
pytest's cache (`.pytest_cache`, key `srharness/durations`, merged run after run), and every
worker orders its collection by them, longest first (all workers read the same file, so their
collections stay identical, as xdist requires). A test not measured yet counts as the seconds
its `slow(seconds=...)` marker states (suites/conftest.py's table), else `UNMEASURED_S`.

With xdist's default `--dist load` the controller hands out consecutive chunks of a quarter of a
worker's share, so the first worker would get all the longest tests: `--maxschedchunk 1` (unless
given) makes it hand them out one by one to whichever worker is free: longest processing time
first, the classic greedy schedule whose finish times differ by at most one test's length.
Other `--dist` modes are left alone (loadscope/loadfile group by module or file on purpose).
"""
from __future__ import annotations

import pytest

CACHE_KEY = "srharness/durations"
UNMEASURED_S = 1.0
SLOW_DEFAULT_S = 30.0


def _xdist_workers(config) -> int:
    n = getattr(config.option, "numprocesses", None)
    return n if isinstance(n, int) else (2 if n else 0)


class DurationOrder:
    def __init__(self, config):
        self.config = config
        self.controller = not hasattr(config, "workerinput")      # only it records
        self.measured: dict[str, float] = {}

    def _recorded(self) -> dict[str, float]:
        cache = getattr(self.config, "cache", None)
        data = cache.get(CACHE_KEY, {}) if cache is not None else {}
        return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))} if isinstance(data, dict) else {}

    @staticmethod
    def _estimate(item) -> float:
        slow = item.get_closest_marker("slow")
        if slow is not None:
            return float(slow.kwargs.get("seconds", SLOW_DEFAULT_S))
        return UNMEASURED_S

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        recorded = self._recorded()
        # a stable sort: equal estimates keep pytest's order (fixture locality)
        items.sort(key=lambda it: -recorded.get(it.nodeid, self._estimate(it)))

    def pytest_runtest_logreport(self, report):
        if self.controller:
            self.measured[report.nodeid] = self.measured.get(report.nodeid, 0.0) + float(report.duration or 0.0)

    def pytest_sessionfinish(self, session):
        cache = getattr(self.config, "cache", None)
        if cache is None or not self.controller or not self.measured:
            return
        data = self._recorded()
        data.update({k: round(v, 3) for k, v in self.measured.items()})
        cache.set(CACHE_KEY, data)


def configure(config) -> None:
    """Register on the controller and the workers of an xdist run (nothing without xdist)."""
    worker = hasattr(config, "workerinput")
    if not worker and not _xdist_workers(config):
        return
    if not worker and getattr(config.option, "dist", "no") == "load" \
            and getattr(config.option, "maxschedchunk", None) is None:
        config.option.maxschedchunk = 1
    config.pluginmanager.register(DurationOrder(config), "srharness-duration-order")
