"""Extension from outside the package, as a user's project sees it: srharness's pytest11 entry
point (no pytest_plugins line), --sr-plugin / SRHARNESS_PLUGINS, the pytest_srharness_register
hook, and an export cache that never serves a stale ONNX after the user's forward changed."""
import textwrap

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow   # each test runs pytest in a subprocess (torch import, export)

USER_MODEL = textwrap.dedent('''
    from torch import nn

    class Net(nn.Module):
        def __init__(self, scale):
            super().__init__()
            self.conv = nn.Conv2d(1, scale * scale, 3, padding=1)
            self.up = nn.PixelShuffle(scale)

        def forward(self, x):
            return self.up(self.conv(x)){extra}
''')

PLUGIN = textwrap.dedent('''
    from srharness.registry import ModelSpec

    def srharness_register(api):
        from user_model import Net
        api.register_model(ModelSpec(name="user-net", builder=Net, scales=(2,), reference="user", in_channels=1,
                                     input_range=1.0, upsamples=True, guide_input_shape=(1, 1, 16, 16),
                                     guide_opset=9, test_shape=(16, 16)))
''')

HOOK_CONFTEST = textwrap.dedent('''
    import my_plugin

    def pytest_srharness_register(registry):
        my_plugin.srharness_register(registry)
''')

SUITE = textwrap.dedent('''
    import pytest
    from srharness.checks.export import ExportChecks

    pytestmark = [pytest.mark.cpu]

    class TestExport(ExportChecks):
        model = "user-net"
''')


@pytest.fixture
def project(pytester, monkeypatch, tmp_path):
    """A user's project: no conftest, no pytest_plugins line; its own export cache."""
    monkeypatch.delenv("SRHARNESS_PLUGINS", raising=False)
    monkeypatch.delenv("SRHARNESS_REQUIRE", raising=False)
    monkeypatch.setenv("SRHARNESS_EXPORT_CACHE", str(tmp_path / "cache"))
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    pytester.makepyfile(user_model=USER_MODEL.format(extra=""), my_plugin=PLUGIN)
    return pytester


def test_installed_srharness_gives_fixtures_and_markers_with_no_pytest_plugins_line(project):
    project.makepyfile(test_a='''
        import pytest

        @pytest.mark.cpu
        def test_fixture(sr_golden_dir, sr_record):
            assert sr_golden_dir.name == "golden"
    ''')
    result = project.runpytest_subprocess("-m", "cpu")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("how", ["option", "env", "hook"])
def test_a_user_model_joins_the_checks(project, monkeypatch, how):
    project.makepyfile(test_user=SUITE)
    args = ["-k", "onnxruntime_matches_torch or guide_opset"]
    if how == "option":
        args.append("--sr-plugin=my_plugin")
    elif how == "env":
        monkeypatch.setenv("SRHARNESS_PLUGINS", "my_plugin")
    else:
        project.makeconftest(HOOK_CONFTEST)
    result = project.runpytest_subprocess(*args)
    result.assert_outcomes(passed=2)


def test_an_unknown_plugin_is_a_usage_error(project):
    result = project.runpytest_subprocess("--sr-plugin=nope_not_here")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*srharness plugin 'nope_not_here': no such module*"])


def test_a_changed_forward_is_exported_again_not_served_from_the_cache(project):
    """Same arguments, same weights (seed 0): only the user's source changed. A stale ONNX would
    make onnxruntime disagree with torch by the factor 2."""
    project.makepyfile(test_user=SUITE)
    args = ["--sr-plugin=my_plugin", "-k", "onnxruntime_matches_torch", "-s"]
    project.runpytest_subprocess(*args).assert_outcomes(passed=1)
    project.makepyfile(user_model=USER_MODEL.format(extra=" * 2"))
    result = project.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)


ONNX_ONLY_PLUGIN = textwrap.dedent('''
    from pathlib import Path
    from srharness.registry import ModelSpec

    def srharness_register(api):
        api.register_model(ModelSpec(name="onnx-user", builder=None, onnx="user.onnx", scales=(2,),
                                     reference="a vendor's ONNX file", in_channels=1, input_range=1.0,
                                     upsamples=True, guide_input_shape=(1, 1, 16, 16), guide_opset=13,
                                     test_shape=(16, 16), cpu_perf_shape=(16, 16)))
''')

ONNX_ONLY_SUITE = textwrap.dedent('''
    import pytest
    from srharness.checks.accuracy import AccuracyChecks
    from srharness.checks.export import ExportChecks
    from srharness.checks.perf import PerfChecks

    pytestmark = [pytest.mark.cpu]

    class TestExport(ExportChecks):
        model = "onnx-user"

    class TestAccuracy(AccuracyChecks):
        model = "onnx-user"

    class TestPerf(PerfChecks):
        model = "onnx-user"
''')


def test_an_onnx_only_model_runs_everything_that_needs_no_torch(project):
    """No torch code: onnxruntime fp32 is the fidelity reference; torch checks skip with the reason."""
    import torch
    from torch import nn
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.PixelShuffle(2))
    torch.onnx.export(net.eval(), (torch.rand(1, 1, 16, 16),), str(project.path / "user.onnx"), opset_version=13,
                      dynamo=False, input_names=["input"], output_names=["output"])
    project.makepyfile(onnx_plugin=ONNX_ONLY_PLUGIN, test_onnx_user=ONNX_ONLY_SUITE)
    result = project.runpytest_subprocess("--sr-plugin=onnx_plugin", "-rs", "-k", "not variant_task")
    outcomes = result.parseoutcomes()
    # fidelity of ort-fp16 / int8 minmax / int8 entropy against ort fp32, the protocols, perf
    assert outcomes.get("passed", 0) >= 5 and not outcomes.get("failed"), result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["*ONNX-only model*no torch code to export*",
                                 "*ONNX-only model: onnxruntime fp32 is the fidelity reference itself*"])


HOSTILE_ONNX_PLUGIN = textwrap.dedent('''
    from srharness.registry import ModelSpec

    def srharness_register(api):
        for name in ("hostile-first-output", "hostile-loop", "hostile-random-bytes", "hostile-custom-domain"):
            api.register_model(ModelSpec(name=name, builder=None, onnx=f"{name}.onnx", scales=(2,),
                                         reference="a hostile ONNX file", in_channels=1, input_range=1.0,
                                         upsamples=False, guide_input_shape=(1, 1, 16, 16), guide_opset=13,
                                         test_shape=(16, 16), cpu_perf_shape=(16, 16)))
''')

HOSTILE_ONNX_SUITE = textwrap.dedent('''
    import pytest
    from srharness.checks.accuracy import AccuracyChecks

    pytestmark = [pytest.mark.cpu]

    class TestFirstOutput(AccuracyChecks):
        model = "hostile-first-output"

    class TestLoop(AccuracyChecks):
        model = "hostile-loop"

    class TestRandomBytes(AccuracyChecks):
        model = "hostile-random-bytes"

    class TestCustomDomain(AccuracyChecks):
        model = "hostile-custom-domain"
''')


def test_hostile_onnx_only_models_fail_clearly_through_pytest(project, monkeypatch):
    """The hostile-ONNX cases of tests/test_bad_input.py through pytest, registered by a plugin: a first
    output that is not the SR image never scores (it used to pass with fidelity inf dB), a Loop of 2^62
    iterations times out, random bytes and a custom-domain op are refused: each a failure whose
    message names the file, none a pass, no onnxruntime traceback."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import test_bad_input as bad
    finally:
        sys.path.pop(0)
    bad._two_outputs("junk")(project.path / "hostile-first-output.onnx")
    bad._loop_forever(project.path / "hostile-loop.onnx")
    (project.path / "hostile-random-bytes.onnx").write_bytes(bytes(range(256)) * 8)
    bad._simple([bad._node("Magic", ["input"], ["output"], domain="evil.ops")], [bad._vi("input", [1, 1, "h", "w"])],
                [bad._vi("output", [1, 1, "h", "w"])], domains=("evil.ops",))(project.path / "hostile-custom-domain.onnx")
    project.makepyfile(hostile_plugin=HOSTILE_ONNX_PLUGIN, test_hostile=HOSTILE_ONNX_SUITE)
    monkeypatch.setenv("SRHARNESS_ORT_TIMEOUT_S", "2")
    result = project.runpytest_subprocess("--sr-plugin=hostile_plugin", "-rA", "-k", "fidelity and ort-fp16")
    out = result.stdout.str()
    outcomes = result.parseoutcomes()
    assert not outcomes.get("passed") and outcomes.get("failed", 0) == 4, out[-4000:]
    for name, said in (("hostile-first-output", "sr_output"), ("hostile-loop", "timed out after 2 s"),
                       ("hostile-random-bytes", "not an ONNX model"), ("hostile-custom-domain", "evil.ops")):
        assert any(name in line and said in line for line in out.splitlines()), (name, said, out[-4000:])
    assert "inf dB" not in out and "onnxruntime_pybind11_state" not in out, out[-4000:]
