"""srharness.allocator: freed large arrays are reused instead of faulted in again, in every test and
CLI process (a quarter of a VDSR run's time went to page faults)."""
import os
import subprocess
import sys

import pytest

PROBE = """
import resource, numpy as np
from srharness.allocator import keep_freed_memory
state = keep_freed_memory()
def run():                                        # a model run: 16 MB activations alive together, then freed
    blocks = [np.ones(4 << 20, np.float32) for _ in range(4)]
    del blocks
run()                                             # the first run's pages fault in once
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    run()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, state)
"""


def _faults(keep_mb: str) -> tuple[int, str]:
    env = {**os.environ, "SRHARNESS_MALLOC_KEEP_MB": keep_mb}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True).stdout
    faults, state = out.strip().split(" ", 1)
    return int(faults), state


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_freed_blocks_are_reused_not_faulted_in_again():
    default, state = _faults("0")
    assert state == "glibc default" and default > 10_000, default        # pages faulted in again each run
    tuned, state = _faults("256")
    assert "256 MB" in state and tuned < 1000, tuned


@pytest.mark.parametrize("value", ["lots", "-5", "4096"])     # 4096 MB would overflow mallopt's C int
def test_a_bad_value_is_a_usage_error_naming_the_variable(value):
    env = {**os.environ, "SRHARNESS_MALLOC_KEEP_MB": value}
    proc = subprocess.run([sys.executable, "-m", "srharness", "where", "golden"], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "SRHARNESS_MALLOC_KEEP_MB" in proc.stderr and "Traceback" not in proc.stderr, \
        proc.stderr
    assert proc.stdout == ""
