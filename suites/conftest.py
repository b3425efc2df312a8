"""The `slow` marker of the CPU suites, from a measurement: `pytest -m "cpu and not slow"` is the
quick loop, `pytest -m cpu` the whole job.

Rule: a test is slow when one run of it took more than SLOW_OVER_SECONDS in
`SRHARNESS_DATA_DIR=../shared/data pytest -m cpu --durations=40` on the CI's shape (2 shared cores,
serial; 2026-11-23: 22 min 47 s for the whole job on a loaded host). Re-measure and update the
table when a check changes its cost.
"""
import pytest

SLOW_OVER_SECONDS = 20.0
MEASURED_SECONDS = {   # nodeid (or class prefix ending in "::") -> seconds, setup + call
    "suites/rdn/test_cpu.py::TestPerf::test_cpu_variants": 139.2,
    "suites/rdn/test_cpu.py::TestAccuracy::test_fidelity[ort-int8-minmax]": 95.6,
    "suites/rcan_training/test_cpu.py::TestRcanTrainingCpu::": 86.2 + 57.6 + 28.2,
    "suites/rcan/test_cpu.py::TestSr4kPerf::test_cpu_variants": 80.0,
    "suites/rcan/test_cpu.py::TestRcanAccuracy::test_fidelity[ort-fp16]": 77.4,
    "suites/rcan/test_cpu.py::TestRcanExport::test_dynamic_hw_export_holds_at_two_sizes": 74.3,
    "suites/vdsr/test_cpu.py::TestAccuracy::test_variant_task_accuracy[ort-int8-entropy]": 62.1,
    "suites/rcan/test_cpu.py::TestSr4kAccuracy::test_fidelity[ort-int8-entropy]": 60.2,
    "suites/rcan/test_cpu.py::TestRcanExport::test_default_exporter_is_caught_and_rewritten": 59.2,
    "suites/rcan/test_cpu.py::TestRcanAccuracy::test_fidelity[ort]": 52.0,
    "suites/rcan/test_cpu.py::TestSr4kLiteAccuracy::test_fidelity[ort-int8-entropy]": 35.3,
    "suites/rdn/test_cpu.py::TestExport::test_default_exporter_is_caught_and_rewritten": 35.2,
    "suites/rdn/test_cpu.py::TestExport::test_guide_opset_has_no_depth_to_space": 27.1,
    "suites/rcan/test_cpu.py::TestRcanAccuracy::test_protocol_bicubic_baseline": 24.4,
    "suites/rcan/test_cpu.py::TestSr4kLitePerf::test_cpu_variants": 23.5,
    "suites/srcnn/test_cpu.py::TestPerf::test_cpu_variants": 20.3,
}


def measured_seconds(nodeid: str) -> float:
    return max((s for key, s in MEASURED_SECONDS.items()
                if nodeid == key or (key.endswith("::") and nodeid.startswith(key))), default=0.0)


@pytest.hookimpl(tryfirst=True)   # before `-m` deselects by marker
def pytest_collection_modifyitems(items):
    for item in items:
        seconds = measured_seconds(item.nodeid)
        if seconds > SLOW_OVER_SECONDS:
            # the seconds also order an xdist run before it has measured its own (srharness.schedule)
            item.add_marker(pytest.mark.slow(seconds=seconds))
