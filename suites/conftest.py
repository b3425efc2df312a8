"""The `slow` marker of the CPU suites, from a measurement: `pytest -m "cpu and not slow"` is the
quick loop, `pytest -m cpu` the whole job.

Rule: a test is slow when one run of it cost more than SLOW_OVER_SECONDS of CPU (its process's and
its waited-for children's, setup to teardown; not the time it waited for another worker) in a cold
run on the CI's shape (2 cores, a fresh clone, no caches):
`SRHARNESS_DATA_DIR=../shared/data pytest -m cpu -n auto`, then `python -m srharness.schedule --over 2`
prints the table below (2026-12-07). The seconds also order the first `-n auto` run of a clone,
longest first, before it has recorded its own (srharness.schedule). Re-measure and replace the
table when a check changes its cost.
"""
import pytest

SLOW_OVER_SECONDS = 2.0
MEASURED_SECONDS = {   # nodeid (or class prefix ending in "::") -> CPU seconds, setup to teardown
    "suites/vdsr/test_cpu.py::TestAccuracy::test_variant_task_accuracy[ort-int8-entropy]": 33.3,
    "suites/rcan/test_cpu.py::TestRcanExport::test_default_exporter_is_caught_and_rewritten": 22.7,
    "suites/rdn/test_cpu.py::TestPerf::test_cpu_variants": 18.8,
    "suites/vdsr/test_cpu.py::TestPerf::test_cpu_variants": 10.9,
    "suites/rdn/test_cpu.py::TestAccuracy::test_fidelity[ort-int8-minmax]": 8.8,
    "suites/vdsr/test_cpu.py::TestAccuracy::test_variant_task_accuracy[ort-int8-minmax]": 8.7,
    "suites/vdsr/test_figures.py::TestFigures::test_figure[vdsr/x2/set5/psnr/upstream-readme]": 7.8,
    "suites/vdsr/test_figures.py::TestFigures::test_figure[vdsr/x3/set5/psnr/upstream-readme]": 7.7,
    "suites/rcan_training/test_cpu.py::TestRcanTrainingCpu::test_two_processes_match_one": 7.7,
    "suites/rcan_training/test_cpu.py::TestRcanTrainingCpu::test_eval_psnr_is_recorded": 7.6,
    "suites/vdsr/test_figures.py::TestFigures::test_figure[vdsr/x4/set5/psnr/upstream-readme]": 7.6,
    "suites/vdsr/test_figures.py::TestFigures::test_figure[vdsr/x4/set5/psnr/float-bicubic-recorded]": 7.5,
    "suites/rcan/test_cpu.py::TestRcanAccuracy::test_fidelity[ort-fp16]": 7.4,
    "suites/vdsr/test_figures.py::TestFigures::test_figure[vdsr/x3/set5/psnr/bicubic-bmp-inputs]": 7.0,
    "suites/rdn/test_cpu.py::TestExport::test_default_exporter_is_caught_and_rewritten": 7.0,
    "suites/rcan/test_cpu.py::TestSr4kPerf::test_cpu_variants": 7.0,
    "suites/vdsr/test_figures.py::TestFigures::test_figure[vdsr/x2/set5/psnr/bicubic-bmp-inputs]": 6.9,
    "suites/vdsr/test_figures.py::TestFigures::test_figure[vdsr/x4/set5/psnr/bicubic-bmp-inputs]": 6.9,
    "suites/rcan/test_cpu.py::TestRcanExport::test_dynamic_hw_export_holds_at_two_sizes": 6.0,
    "suites/rdn/test_cpu.py::TestExport::test_guide_opset_has_no_depth_to_space": 5.7,
    "suites/rcan/test_cpu.py::TestRcanExport::test_guide_opset_has_no_depth_to_space": 5.7,
    "suites/vdsr/test_cpu.py::TestAccuracy::test_variant_task_accuracy[ort-fp16]": 3.6,
    "suites/rcan/test_cpu.py::TestSr4kLitePerf::test_cpu_variants": 3.3,
    "suites/rdn/test_cpu.py::TestExport::test_dynamic_hw_export_holds_at_two_sizes": 2.9,
    "suites/rdn/test_cpu.py::TestAccuracy::test_fidelity[ort-fp16]": 2.8,
    "suites/vdsr/test_cpu.py::TestAccuracy::test_fidelity[ort-int8-entropy]": 2.5,
    "suites/srcnn/test_cpu.py::TestPerf::test_cpu_variants": 2.4,
    "suites/rcan_training/test_cpu.py::TestRcanTrainingCpu::test_resumed_run_continues_identically": 2.4,
    "suites/rcan/test_cpu.py::TestSr4kAccuracy::test_fidelity[ort-int8-entropy]": 2.4,
    "suites/rdn/test_cpu.py::TestExport::test_onnxruntime_matches_torch": 2.3,
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
