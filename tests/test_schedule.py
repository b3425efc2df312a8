"""xdist scheduling by measured durations (srharness.schedule): the controller records each test's
duration in pytest's cache, the next run's workers collect the longest first, and --dist load
hands them out one at a time."""
import json

pytest_plugins = ["pytester"]

TESTS = """
import time
import pytest

def test_short():
    time.sleep(0.01)

@pytest.mark.parametrize("n", [1, 2])
def test_mid(n):
    time.sleep(0.2)

def test_long():
    time.sleep(0.8)
"""

CONFTEST = """
pytest_plugins = ("srharness.plugin",)
import os, json, pytest

@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    yield        # after every implementation, srharness.schedule's included
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker:
        with open(f"order-{worker}.json", "w") as f:
            json.dump([i.name for i in items], f)
"""


def test_durations_recorded_then_longest_first(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_some=TESTS)
    pytester.makeini("[pytest]\naddopts = --strict-markers\n")
    first = pytester.runpytest_subprocess("-n", "2")
    first.assert_outcomes(passed=4)
    first_order = json.loads((pytester.path / "order-gw0.json").read_text())
    assert first_order == ["test_short", "test_mid[1]", "test_mid[2]", "test_long"]   # nothing measured yet
    durations = json.loads((pytester.path / ".pytest_cache" / "v" / "srharness" / "durations").read_text())
    assert durations["test_some.py::test_long"] > durations["test_some.py::test_mid[1]"] > \
        durations["test_some.py::test_short"]
    second = pytester.runpytest_subprocess("-n", "2")
    second.assert_outcomes(passed=4)
    for worker in ("gw0", "gw1"):     # every worker the same order: xdist needs equal collections
        order = json.loads((pytester.path / f"order-{worker}.json").read_text())
        assert order[0] == "test_long" and order[-1] == "test_short"


def test_an_unmeasured_slow_test_counts_its_stated_seconds(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_some="""
import pytest

def test_quick():
    pass

@pytest.mark.slow(seconds=50)
def test_known_slow():
    pass
""")
    pytester.makeini("[pytest]\naddopts = --strict-markers\nmarkers =\n    slow: slow\n")
    pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider").assert_outcomes(passed=2)
    assert json.loads((pytester.path / "order-gw0.json").read_text()) == ["test_known_slow", "test_quick"]


def test_cpu_seconds_recorded_without_the_time_a_test_waited(pytester, capsys):
    """A test's recorded cost is the CPU it used, its waited-for children's included, not its wall
    time: a test that waited for another worker's shared result must not count as a long one."""
    from srharness import schedule
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_some='''
import subprocess, sys, time

def _spin(seconds):
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass

def test_works():
    _spin(0.6)

def test_waits():
    time.sleep(0.6)

def test_child_works():
    subprocess.run([sys.executable, "-c", "import time\\nt = time.process_time()\\nwhile time.process_time() - t < 0.6: pass"],
                   check=True)
''')
    pytester.makeini("[pytest]\naddopts = --strict-markers\n")
    pytester.runpytest_subprocess("-n", "2").assert_outcomes(passed=3)
    cache = pytester.path / ".pytest_cache"
    cpu = schedule.read_cache(cache, schedule.CPU_CACHE_KEY)
    assert cpu["test_some.py::test_works"] >= 0.55 and cpu["test_some.py::test_child_works"] >= 0.55, cpu
    assert cpu["test_some.py::test_waits"] < 0.2, cpu
    wall = schedule.read_cache(cache, schedule.CACHE_KEY)
    assert wall["test_some.py::test_waits"] >= 0.55, wall
    capsys.readouterr()
    assert schedule.main(["--cache-dir", str(cache), "--over", "0.5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split('"')[1] for line in lines] == sorted(
        ["test_some.py::test_works", "test_some.py::test_child_works"], key=lambda k: -cpu[k])
    assert schedule.main(["--cache-dir", str(pytester.path / "nothing")]) == 2
