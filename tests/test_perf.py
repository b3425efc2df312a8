"""The measurement engine on a fake clock, on a cheap real function, and the device locks."""
import subprocess
import sys
import time

import numpy as np
import pytest

from srharness.perf import PerfConfig, device_lock, measure, per_card


class FakeClock:
    """Each fn() call advances the clock by the next scripted duration (seconds)."""

    def __init__(self, durations):
        self.t = 0.0
        self.durations = list(durations)
        self.calls = 0

    def __call__(self):
        return self.t

    def fn(self):
        self.t += self.durations[min(self.calls, len(self.durations) - 1)]
        self.calls += 1


def test_statistics_on_a_fake_clock():
    # 2 warm-up calls (ignored: 1 s each), then latencies 1..10 ms.
    clock = FakeClock([1.0, 1.0] + [i / 1000 for i in range(1, 11)])
    r = measure(clock.fn, PerfConfig(warmup_iterations=2, min_iterations=10, min_seconds=0.0), clock=clock)
    assert r.warmup_iterations == 2 and r.iterations == 10
    assert r.latencies_ms == pytest.approx([float(i) for i in range(1, 11)])
    assert r.min_ms == pytest.approx(1) and r.max_ms == pytest.approx(10)
    assert r.mean_ms == pytest.approx(5.5) and r.median_ms == pytest.approx(5.5)
    assert r.p90_ms == pytest.approx(np.percentile(range(1, 11), 90))
    assert r.p99_ms == pytest.approx(9.91)
    assert r.throughput == pytest.approx(1000 / 5.5)
    assert r.cv == pytest.approx(np.std(range(1, 11)) / 5.5)
    assert r.unstable  # CV 0.52 > 0.10


def test_iterations_and_seconds_are_both_minimums():
    clock = FakeClock([0.01])
    r = measure(clock.fn, PerfConfig(warmup_iterations=0, min_iterations=5, min_seconds=1.0), clock=clock)
    assert r.iterations == 100            # 1 s of 10 ms calls, more than the 5 asked
    clock = FakeClock([0.5])
    r = measure(clock.fn, PerfConfig(warmup_iterations=0, min_iterations=5, min_seconds=1.0), clock=clock)
    assert r.iterations == 5              # 5 calls, more than the 1 s asked
    clock = FakeClock([0.5])
    r = measure(clock.fn, PerfConfig(warmup_iterations=0, min_iterations=2, min_seconds=100, max_seconds=2.0), clock=clock)
    assert r.iterations == 4              # max_seconds stops a run that would take 100 s


def test_warmup_by_count_and_by_time():
    clock = FakeClock([0.1])
    r = measure(clock.fn, PerfConfig(warmup_iterations=1, warmup_seconds=0.55, min_iterations=1, min_seconds=0), clock=clock)
    assert r.warmup_iterations == 6       # 0.6 s >= 0.55 s, more than the 1 call asked


def test_stable_run_and_batch_throughput():
    clock = FakeClock([0.020])
    r = measure(clock.fn, PerfConfig(warmup_iterations=0, min_iterations=20, min_seconds=0, batch=4), clock=clock)
    assert r.cv == pytest.approx(0, abs=1e-9) and not r.unstable
    assert r.throughput == pytest.approx(4 * 1000 / 20)
    d = r.to_dict()
    assert d["batch"] == 4 and d["conditions"]["min_iterations"] == 20 and len(d["latencies_ms"]) == 20


def test_conditions_recorded():
    clock = FakeClock([0.001])
    r = measure(clock.fn, PerfConfig(min_iterations=3, min_seconds=0), conditions={"shape": [1, 3, 8, 8]}, clock=clock)
    s = r.summary()
    assert s["conditions"]["shape"] == [1, 3, 8, 8] and s["percentile_method"] == "linear"
    assert set(s["latency_ms"]) == {"min", "mean", "median", "p90", "p95", "p99", "max", "std"}


def test_real_function():
    r = measure(lambda: sum(range(1000)), PerfConfig(warmup_iterations=1, min_iterations=5, min_seconds=0.01))
    assert r.iterations >= 5 and r.seconds >= 0.01 and r.min_ms > 0


def test_bad_config():
    with pytest.raises(ValueError, match="min_iterations"):
        PerfConfig(min_iterations=0)


def test_per_card():
    assert per_card(348.038, 4) == pytest.approx(1392.152)
    with pytest.raises(ValueError):
        per_card(1.0, 0)


HOLD_LOCK = """
import sys, time
from srharness.perf import device_lock
with device_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_device_lock_is_exclusive_across_processes(tmp_path, monkeypatch):
    # A separate interpreter holds the lock, as another pytest-xdist worker would.
    monkeypatch.setenv("SRHARNESS_LOCK_DIR", str(tmp_path))
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, "ascend:0", "3"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(TimeoutError, match=r"device ascend:0 is busy: lock .*ascend_0.lock"):
            with device_lock("ascend:0", timeout=0.2):
                pass
        with device_lock("ascend:1", timeout=0.2):   # another device id is free
            pass
        t = time.monotonic()
        with device_lock("ascend:0", timeout=30):    # waits for the holder, then gets it
            assert time.monotonic() - t > 0.1
    finally:
        holder.wait(30)


def test_cli_bench_json(capsys):
    import json
    from srharness.cli import main
    assert main(["bench", "srcnn", "--backend", "ort", "--shape", "16x16", "--iterations", "3",
                 "--min-seconds", "0", "--warmup", "1", "--threads", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["iterations"] >= 3 and out["batch"] == 1 and out["throughput"] > 0 and out["cv"] >= 0
    assert set(out["latency_ms"]) >= {"min", "mean", "median", "p90", "p95", "p99"}
    assert out["conditions"]["input_shape"] == [1, 1, 16, 16] and out["conditions"]["backend"] == "ort"


@pytest.mark.parametrize("args, message", [(["--shape", "16by16"], "expected HxW"),
                                           (["--backend", "ascend"], "CPU backends"),
                                           (["--iterations", "0"], "--iterations")])
def test_cli_bench_user_errors(capsys, args, message):
    from srharness.cli import main
    try:
        code = main(["bench", "srcnn", *args])
    except SystemExit as exc:   # argparse: an option out of range is refused at parse time
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err
