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

Each test's CPU seconds (the worker's own and its waited-for children's, setup to teardown) are
recorded beside (key `srharness/cpu_seconds`): what a test costs, without the time it waited for
another worker (a shared training, evaluation or export computed once per run, a perf test timing
alone). `python -m srharness.schedule` prints them as the cold-run table of suites/conftest.py.
"""
from __future__ import annotations

import resource
import sys
from pathlib import Path

import pytest

CACHE_KEY = "srharness/durations"
CPU_CACHE_KEY = "srharness/cpu_seconds"
CPU_ATTR = "srharness_cpu_s"          # on a test's teardown report, carried from the worker
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
        self.cpu: dict[str, float] = {}                         # controller: CPU seconds by test
        self.cpu_start: dict[str, float] = {}                   # worker: CPU at a test's setup

    def _recorded(self, key: str = CACHE_KEY) -> dict[str, float]:
        cache = getattr(self.config, "cache", None)
        return _seconds(cache.get(key, {}) if cache is not None else {})

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

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item):
        self.cpu_start[item.nodeid] = cpu_seconds()
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        if call.when == "teardown" and item.nodeid in self.cpu_start:
            setattr(outcome.get_result(), CPU_ATTR, round(cpu_seconds() - self.cpu_start.pop(item.nodeid), 3))

    def pytest_runtest_logreport(self, report):
        if self.controller:
            self.measured[report.nodeid] = self.measured.get(report.nodeid, 0.0) + float(report.duration or 0.0)
            if isinstance(getattr(report, CPU_ATTR, None), (int, float)):
                self.cpu[report.nodeid] = float(getattr(report, CPU_ATTR))

    def pytest_sessionfinish(self, session):
        cache = getattr(self.config, "cache", None)
        if cache is None or not self.controller or not self.measured:
            return
        data = self._recorded()
        data.update({k: round(v, 3) for k, v in self.measured.items()})
        cache.set(CACHE_KEY, data)
        cpu = self._recorded(CPU_CACHE_KEY)
        cpu.update({k: round(v, 3) for k, v in self.cpu.items()})
        cache.set(CPU_CACHE_KEY, cpu)


def cpu_seconds() -> float:
    """User + system CPU of this process and of its children it has waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def read_cache(cache_dir: Path, key: str) -> dict[str, float]:
    """One of pytest's cache values (a {nodeid: seconds} mapping); {} when absent or not one."""
    import json
    try:
        data = json.loads((Path(cache_dir) / "v" / key).read_text())
    except (OSError, ValueError):
        return {}
    return _seconds(data)


def _seconds(data) -> dict[str, float]:
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))} if isinstance(data, dict) else {}


def configure(config) -> None:
    """Register on the controller and the workers of an xdist run (nothing without xdist)."""
    worker = hasattr(config, "workerinput")
    if not worker and not _xdist_workers(config):
        return
    if not worker and getattr(config.option, "dist", "no") == "load" \
            and getattr(config.option, "maxschedchunk", None) is None:
        config.option.maxschedchunk = 1
    config.pluginmanager.register(DurationOrder(config), "srharness-duration-order")


def main(argv=None) -> int:
    """Print the recorded CPU seconds of a run as suites/conftest.py's MEASURED_SECONDS lines."""
    import argparse
    p = argparse.ArgumentParser(prog="python -m srharness.schedule", description=main.__doc__)
    p.add_argument("--cache-dir", default=".pytest_cache", help="pytest's cache folder of the run (default %(default)s)")
    p.add_argument("--over", type=float, default=1.0, help="only tests over this many CPU seconds (default %(default)s)")
    args = p.parse_args(argv)
    cpu = read_cache(Path(args.cache_dir), CPU_CACHE_KEY)
    if not cpu:
        print(f"no CPU seconds recorded under {args.cache_dir}: run `pytest -m cpu -n auto` first", file=sys.stderr)
        return 2
    for nodeid, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
        if seconds > args.over:
            print(f"    {nodeid!r}: {seconds:.1f},".replace("'", '"'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
