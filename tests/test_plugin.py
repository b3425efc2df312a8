"""The pytest plugin as a nightly run sees it: markers, skips for absent hardware, --sr-require,
and the session-cached model/export fixtures (also under xdist)."""
import os
import shutil

import pytest

pytest_plugins = ["pytester"]

HARDWARE_TESTS = """
import pytest

@pytest.mark.vacc
def test_on_vacc():
    pass

@pytest.mark.cpu
def test_on_cpu():
    pass
"""


@pytest.fixture
def plugin_dir(pytester, monkeypatch):
    """A project that loads srharness.plugin, with no VastAI tool reachable on PATH."""
    for tool in ("vamp", "vasmi"):
        while shutil.which(tool):
            folder = os.path.dirname(shutil.which(tool))
            monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                                       if os.path.abspath(p) != folder))
    monkeypatch.delenv("SRHARNESS_REQUIRE", raising=False)
    pytester.makeconftest('pytest_plugins = ("srharness.plugin",)')
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    return pytester


def test_markers_are_registered_with_descriptions(plugin_dir):
    result = plugin_dir.runpytest_subprocess("--markers")
    for name in ("cpu", "cuda", "ascend", "vacc", "export", "accuracy", "perf", "training", "slow"):
        result.stdout.fnmatch_lines([f"@pytest.mark.{name}: *"])


def test_absent_hardware_skips_with_a_reason(plugin_dir):
    plugin_dir.makepyfile(test_hw=HARDWARE_TESTS)
    result = plugin_dir.runpytest_subprocess("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*vacc hardware not found (looked for `vamp` or `vasmi`*"])


@pytest.mark.parametrize("how", ["option", "env"])
def test_required_missing_hardware_fails_before_running(plugin_dir, monkeypatch, how):
    plugin_dir.makepyfile(test_hw=HARDWARE_TESTS + "\nopen('ran.marker', 'w').close()\n")
    args = ["-m", "vacc"]
    if how == "option":
        args.append("--sr-require=vacc")
    else:
        monkeypatch.setenv("SRHARNESS_REQUIRE", "vacc")
    result = plugin_dir.runpytest_subprocess(*args)
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*required hardware missing, nothing was run*", "*vacc hardware not found*"])
    assert not (plugin_dir.path / "ran.marker").exists(), "test modules were collected or run"


def test_unknown_required_hardware_is_a_usage_error(plugin_dir):
    result = plugin_dir.runpytest_subprocess("--sr-require=tpu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown hardware tpu*"])


@pytest.mark.parametrize("workers", [None, "2"])
def test_required_present_hardware_with_no_test_is_not_green(plugin_dir, workers):
    plugin_dir.makepyfile(test_hw="def test_nothing_marked():\n    pass\n")
    result = plugin_dir.runpytest_subprocess("--sr-require=cpu", *(["-n", workers] if workers else []))
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*required hardware cpu had no test selected*"])


SKIPPING_CPU_TESTS = """
import pytest

@pytest.mark.cpu
def test_needs_weights():
    pytest.skip("no official weights")

@pytest.mark.cpu
def test_needs_data():
    pytest.skip("no data dir")
"""


@pytest.mark.parametrize("workers", [None, "2"])
def test_required_hardware_whose_tests_all_skip_is_not_green(plugin_dir, workers):
    plugin_dir.makepyfile(test_hw=SKIPPING_CPU_TESTS)
    result = plugin_dir.runpytest_subprocess("--sr-require=cpu", *(["-n", workers] if workers else []))
    assert result.ret != 0
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*required hardware cpu had no passing test (2 skipped, 0 failed)*"])


def test_a_skip_for_another_reason_is_still_a_skip_when_others_pass(plugin_dir):
    # e.g. no official weights for one model: the required hardware is still covered
    plugin_dir.makepyfile(test_hw=SKIPPING_CPU_TESTS + "\n@pytest.mark.cpu\ndef test_runs():\n    pass\n")
    result = plugin_dir.runpytest_subprocess("--sr-require=cpu")
    assert result.ret == 0
    result.assert_outcomes(passed=1, skipped=2)


FIXTURE_TESTS = """
import numpy as np

def test_model_cache(sr_model):
    assert sr_model("srcnn") is sr_model("srcnn", 2)
    assert sr_model("srcnn").weights_source.startswith("random init")

def test_export_cache(sr_export):
    a = sr_export("srcnn", shape=(16, 16))
    assert a is sr_export("srcnn", 2, opset=9, shape=(16, 16))  # defaults resolved before caching
    assert a.path.is_file() and a.opset == 9 and a.inputs == [("input.1", [1, 1, 16, 16])]

def test_auto_weights_fall_back_to_random(sr_model, sr_export):
    assert sr_model("rcan-sr4k-lite", weights="auto") is sr_model("rcan-sr4k-lite")
    assert sr_export("rcan-sr4k-lite", weights="auto").details["weights"].startswith("random init")
"""


@pytest.mark.parametrize("workers", [None, "2"])
def test_model_and_export_fixtures(plugin_dir, workers):
    plugin_dir.makepyfile(test_fixtures=FIXTURE_TESTS)
    args = ["-n", workers] if workers else []
    result = plugin_dir.runpytest_subprocess(*args)
    result.assert_outcomes(passed=3)


def test_auto_weights_use_the_official_checkpoint(plugin_dir):
    data = os.environ.get("SRHARNESS_DATA_DIR")
    if not data:
        pytest.skip("needs SRHARNESS_DATA_DIR (weights/vdsr)")
    plugin_dir.makepyfile(test_w="""
def test_vdsr(sr_model, sr_export):
    assert sr_model("vdsr", weights="auto").weights_source.endswith("vdsr_state_dict.pth")
    assert sr_model("vdsr").weights_source.startswith("random init")
""")
    plugin_dir.runpytest_subprocess(f"--sr-data-dir={data}").assert_outcomes(passed=1)


CACHE_TEST = """
def test_cache(sr_export):
    r = sr_export("srcnn", shape=(8, 8))
    print("CACHE=" + r.details["cache"])
"""


def test_exports_persist_across_sessions_unless_disabled(plugin_dir, monkeypatch):
    plugin_dir.makepyfile(test_cache=CACHE_TEST)
    monkeypatch.delenv("SRHARNESS_EXPORT_CACHE", raising=False)
    first = plugin_dir.runpytest_subprocess("-s")
    second = plugin_dir.runpytest_subprocess("-s")
    first.stdout.fnmatch_lines(["*CACHE=miss*"])
    second.stdout.fnmatch_lines(["*CACHE=hit*"])
    assert len(list((plugin_dir.path / ".srharness-cache" / "exports").glob("srcnn-*.onnx"))) == 1
    monkeypatch.setenv("SRHARNESS_EXPORT_CACHE", "off")
    plugin_dir.runpytest_subprocess("-s").stdout.fnmatch_lines(["*CACHE=miss*"])


def test_export_checks_fail_on_a_wrong_export(plugin_dir):
    """The suite's checks can fail: an ONNX file that is not the torch model, or not at the guide's opset."""
    plugin_dir.makeconftest('''
import pytest
pytest_plugins = ("srharness.plugin",)

@pytest.fixture(scope="session")
def sr_model():
    from srharness.models import build_model
    def get(name, scale=2, weights=None):
        model = build_model(name, scale, seed=1)  # not the seed-0 weights the exports are made with
        model.weights_source = "seed 1"
        return model
    return get

@pytest.fixture(scope="session")
def sr_export(sr_export):
    def get(name, scale=2, opset=None, **kw):
        return sr_export(name, scale, opset=13, **kw)  # ignores the guide's opset
    return get
''')
    plugin_dir.makepyfile(test_srcnn='''
from srharness.checks.export import ExportChecks

class TestSr4k(ExportChecks):
    model = "rcan-sr4k-lite"
''')
    result = plugin_dir.runpytest_subprocess("-k", "guide_opset or onnxruntime_matches")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*asked opset 9, file says 13*", "*onnxruntime differs from torch by*"])


THREAD_SHARE_TESTS = """
import os
import onnxruntime as ort
import torch

def test_share(sr_export):
    from srharness.runners.ort_runner import OrtRunner
    path = sr_export("srcnn", shape=(16, 16)).path
    plain = OrtRunner(path).build()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 3
    own = OrtRunner(path, session_options=so).build()
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    share = max(1, (os.cpu_count() or 1) // workers) if workers > 1 else 0     # 0: onnxruntime's default
    assert plain.session.get_session_options().intra_op_num_threads == share
    assert own.session.get_session_options().intra_op_num_threads == 3          # its own options win
    assert OrtRunner(path, threads=2).build().session.get_session_options().intra_op_num_threads == 2
    if workers > 1:
        assert torch.get_num_threads() == share
"""


@pytest.mark.parametrize("workers", [None, "2"])
def test_xdist_workers_share_the_cores_between_torch_and_onnxruntime(plugin_dir, workers, monkeypatch):
    """Each xdist worker runs torch and its onnxruntime sessions on its share of the cores (two
    workers each spinning one onnxruntime thread per core oversubscribe the CPU)."""
    for name in ("OMP_NUM_THREADS", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT"):   # not this run's xdist
        monkeypatch.delenv(name, raising=False)
    plugin_dir.makepyfile(test_threads=THREAD_SHARE_TESTS)
    result = plugin_dir.runpytest_subprocess(*(["-n", workers] if workers else []))
    result.assert_outcomes(passed=1)
