"""The SRCNN and RDN guides' own logs, fed through the parsers and the golden rules, reproduce the
guides' verdicts: 348.038 x 4 = 1392.152 > 1163.108; 7.39423 x 4 = 29.577 > 25.393; the 3.76 fps
measured before the TransposeD fix fails; and the profile of that run shows the hotspots."""
from pathlib import Path

import pytest

from srharness.golden import load_goldens
from srharness.perf import find_hotspots, per_card
from srharness.tools.logs import parse_file

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "fixtures" / "logs"


@pytest.fixture(scope="module")
def goldens():
    return load_goldens(ROOT / "golden")


@pytest.mark.parametrize("model, perf_log, trt_log, card_fps, t4_fps", [
    ("srcnn", "benchmark_srcnn_perf_vision_batchsize_1_device_0.txt", "trtexec_srcnn_t4_fp16.txt", 1392.152, 1163.108),
    ("rdn", "benchmark_rdn_perf_vision_batchsize_1_device_0.txt", "trtexec_rdn_t4_fp16.txt", 29.577, 25.393),
])
def test_guide_logs_reproduce_card_beats_t4(goldens, model, perf_log, trt_log, card_fps, t4_fps):
    device = goldens.get(f"{model}/x2/perf/fps/ascend310-device")
    card = goldens.get(f"{model}/x2/perf/fps/ascend310-card")
    t4 = goldens.get(f"{model}/x2/perf/fps/t4-trtexec-fp16")

    bench = parse_file("benchmark", LOGS / perf_log)
    assert bench.interface_throughput == device.value
    measured_card = per_card(bench.interface_throughput, device.conditions["devices_per_card"])
    assert measured_card == pytest.approx(card_fps, abs=5e-4) == pytest.approx(card.value, abs=5e-4)

    trt = parse_file("trtexec", LOGS / trt_log)
    assert trt.fps(t4.conditions["batch"]) == pytest.approx(t4.value, abs=1e-3)  # the guides truncate to 3 dp
    assert trt.fps(1) == pytest.approx(t4_fps, abs=1e-3)

    verdict = t4.judge(measured_card)
    print(f"{model}: {bench.interface_throughput} x 4 = {measured_card:.3f} fps vs T4 {t4.value}: {verdict.text}")
    assert verdict.passed and card.expected_verdict == "pass"


def test_rdn_before_transpose_fix_fails_the_floor(goldens):
    before = goldens.get("rdn/x2/perf/fps/ascend310-card-before-transpose-fix")
    t4 = goldens.get(before.compared_with)
    verdict = t4.judge(before.value)
    assert not verdict.passed and before.expected_verdict == "fail"
    print(f"rdn before the TransposeD fix: {before.value} fps vs T4 {t4.value}: {verdict.text}")


def test_rdn_profile_before_fix_flags_transdata_and_transposed(goldens):
    stats = parse_file("op_statistic", LOGS / "op_statistic_0_1_rdn_before_fix.csv")
    hot = find_hotspots(stats, share_pct=20.0)
    assert [h.op_type for h in hot] == ["TransData", "TransposeD"]
    assert hot[0].share_pct == goldens.get("rdn/x2/profiling/op-share/transdata").value
    assert hot[1].share_pct == goldens.get("rdn/x2/profiling/op-share/transposed").value
    assert find_hotspots(stats, share_pct=50.0) == []   # threshold respected
    for h in hot:
        print(h.describe())


def test_equal_fps_does_not_exceed_the_baseline(goldens):
    """`exceeds` is strict: a card exactly at the T4 figure is not faster than it."""
    t4 = goldens.get("srcnn/x2/perf/fps/t4-trtexec-fp16")
    assert not t4.judge(t4.value).passed
