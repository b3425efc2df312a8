"""Vendor log parsers on the seeds' exact outputs (fixtures/logs) and on variants: other numbers,
missing lines, the vamp `batch szie` typo, garbage. A bad log raises LogParseError, never a zero."""
from pathlib import Path

import pytest

from srharness.tools.logs import (
    LogParseError,
    parse_ais_bench,
    parse_benchmark,
    parse_file,
    parse_npu_smi,
    parse_op_statistic,
    parse_trtexec,
    parse_vamp,
)

LOGS = Path(__file__).resolve().parent.parent / "fixtures" / "logs"


def text(name: str) -> str:
    return (LOGS / name).read_text(encoding="utf-8")


# ---------------------------------------------------------------- benchmark
def test_benchmark_srcnn_seed():
    p = parse_file("benchmark", LOGS / "benchmark_srcnn_perf_vision_batchsize_1_device_0.txt")
    assert p.interface_throughput == 348.038
    assert p.infer_throughput == 285.682 and p.infer_latency_ms == 3.4136
    assert p.e2e_throughput == 3.74691 and p.e2e_latency_ms == 1334.43
    assert p.stages["post"] == {"throughputRate": 50.2841, "moduleLatency": 19.887}


def test_benchmark_rdn_seed():
    assert parse_file("benchmark", LOGS / "benchmark_rdn_perf_vision_batchsize_1_device_0.txt").interface_throughput == 7.39423


def test_benchmark_other_numbers():
    t = text("benchmark_srcnn_perf_vision_batchsize_1_device_0.txt").replace("348.038", "1.5e3")
    assert parse_benchmark(t).interface_throughput == 1500.0


@pytest.mark.parametrize("drop, message", [("[infer]", "no [infer] line"), ("[e2e]", "no [e2e] line")])
def test_benchmark_missing_line(drop, message):
    t = "\n".join(l for l in text("benchmark_srcnn_perf_vision_batchsize_1_device_0.txt").splitlines() if drop not in l)
    with pytest.raises(LogParseError, match=rf"perf.txt: .*{message.replace('[', '.').replace(']', '.')}"):
        parse_benchmark(t, "perf.txt")


def test_benchmark_missing_interface_figure():
    t = text("benchmark_srcnn_perf_vision_batchsize_1_device_0.txt").replace("Interface throughputRate: 348.038, ", "")
    with pytest.raises(LogParseError, match="Interface throughputRate"):
        parse_benchmark(t, "perf.txt")


# ---------------------------------------------------------------- ais_bench
def test_ais_bench_console():
    p = parse_file("ais_bench", LOGS / "ais_bench_resnet50_bs1.txt")
    assert p.npu_compute_ms["mean"] == pytest.approx(2.4560000896453857)
    assert p.npu_compute_ms["p99"] == pytest.approx(2.4560000896453857)
    assert p.throughput == pytest.approx(407.16610891670894) and p.batch == 1


def test_ais_bench_summary_json():
    p = parse_ais_bench('{"NPU_compute_time": {"min": 1.0, "max": 3.0, "mean": 2.0, "median": 2.0, '
                        '"percentile(99%)": 2.9}, "throughput": 500.0, "H2D_latency": {"mean": 0.1}}', "sumary.json")
    assert p.npu_compute_ms["p99"] == 2.9 and p.throughput == 500.0 and p.other_blocks["H2D_latency"]["mean"] == 0.1


def test_ais_bench_without_throughput_line():
    t = "\n".join(l for l in text("ais_bench_resnet50_bs1.txt").splitlines() if "throughput" not in l)
    with pytest.raises(LogParseError, match="throughput"):
        parse_ais_bench(t, "run.log")


# ---------------------------------------------------------------- vamp
def test_vamp_seed_with_batch_szie_typo():
    p = parse_file("vamp", LOGS / "vamp_rcan_sr4k_3-2-32_i8.txt")
    assert "batch szie" in text("vamp_rcan_sr4k_3-2-32_i8.txt")
    assert p.batch == 1 and p.instances == 8 and p.devices == [0]
    assert p.throughput_qps == 20.9133
    assert p.e2e_latency_us["p99"] == 1375009 and p.model_latency_us["avg"] == 790979
    assert p.ai_utilize_pct == 84.7898 and p.card_power_w == 31.4568 and p.die_memory_mb == 2962.27


def test_vamp_seed_2_1_0():
    p = parse_file("vamp", LOGS / "vamp_rcan_sr4k_2-2-16_i1.txt")
    assert p.throughput_qps == 36.1415 and p.instances == 1 and p.batch == 1
    assert p.e2e_latency_us["p99"] == 83121 and p.model_latency_us["p99"] == 83058
    assert p.input_shape == [3, 1080, 1920] and p.temperature_c == 48.5141


def test_vamp_other_numbers():
    t = text("vamp_rcan_sr4k_2-2-16_i1.txt").replace("36.1415", "41.5").replace("83121", "70000")
    p = parse_vamp(t)
    assert p.throughput_qps == 41.5 and p.e2e_latency_us["p99"] == 70000


def test_vamp_missing_throughput_is_an_error_not_zero():
    t = "\n".join(l for l in text("vamp_rcan_sr4k_2-2-16_i1.txt").splitlines() if "throughput" not in l)
    with pytest.raises(LogParseError, match=r"vamp.log: .*throughput \(qps\)"):
        parse_vamp(t, "vamp.log")


def test_vamp_truncated_latency_block():
    lines = text("vamp_rcan_sr4k_2-2-16_i1.txt").splitlines()
    t = "\n".join(lines[:-2])  # the model block loses p95 and p99
    with pytest.raises(LogParseError, match="model latency block lacks p95, p99"):
        parse_vamp(t, "vamp.log")


# ---------------------------------------------------------------- trtexec
def test_trtexec_srcnn_seed():
    p = parse_file("trtexec", LOGS / "trtexec_srcnn_t4_fp16.txt")
    assert p.gpu_compute_ms == {"min": 0.796875, "max": 3.98999, "mean": 0.859765, "median": 0.853516, "p99": 0.987305}
    assert p.total_compute_s == 2.98597
    assert p.fps(1) == pytest.approx(1163.108, abs=1e-3)  # the guide truncates 1163.1085


def test_trtexec_rdn_seed():
    p = parse_file("trtexec", LOGS / "trtexec_rdn_t4_fp16.txt")
    assert p.gpu_compute_ms["mean"] == 39.3814 and p.fps(1) == pytest.approx(25.393, abs=1e-3)


def test_trtexec_tensorrt8_one_line_summary():
    t = ("[05/27/2023-12:05:31] [I] Throughput: 120.699 qps\n"
         "[05/27/2023-12:05:31] [I] GPU Compute Time: min = 8.9 ms, max = 11.5 ms, mean = 9.6 ms, median = 9.5 ms, "
         "percentile(90%) = 9.9 ms, percentile(95%) = 10.0 ms, percentile(99%) = 11.3 ms\n")
    p = parse_trtexec(t)
    assert p.gpu_compute_ms["mean"] == 9.6 and p.gpu_compute_ms["p95"] == 10.0 and p.throughput_qps == 120.699


def test_trtexec_block_without_mean():
    t = "\n".join(l for l in text("trtexec_rdn_t4_fp16.txt").splitlines() if "mean" not in l)
    with pytest.raises(LogParseError, match="no 'mean' line"):
        parse_trtexec(t, "trt.log")


# ---------------------------------------------------------------- op_statistic
def test_op_statistic_rdn_seed():
    p = parse_file("op_statistic", LOGS / "op_statistic_0_1_rdn_before_fix.csv")
    by = {o.op_type: o for o in p.ops}
    assert by["TransData"].ratio_pct == 44.2515 and by["TransData"].count == 4
    assert by["TransposeD"].avg_time_us == 934287.8
    assert by["Conv2D"].count == 150 and len(p.ops) == 5


def test_op_statistic_wrong_header():
    with pytest.raises(LogParseError, match=r"header lacks column\(s\) Ratio\(%\)"):
        parse_op_statistic("Model Name,OP Type,Core Type,Count,Total Time(us),Min Time(us),Avg Time(us),Max Time(us)\n"
                           "m,Conv2D,AI Core,1,1,1,1,1\n", "op.csv")


def test_op_statistic_non_numeric_cell():
    t = text("op_statistic_0_1_rdn_before_fix.csv").replace("44.2515", "n/a")
    with pytest.raises(LogParseError, match=r"line 2 Ratio\(%\) is 'n/a'"):
        parse_op_statistic(t, "op.csv")


# ---------------------------------------------------------------- npu-smi
def test_npu_smi_seed_gives_soc_version():
    p = parse_file("npu-smi", LOGS / "npu_smi_info_310p3.txt")
    assert p.chip_names == ["310P3"] and p.soc_version == "Ascend310P3" and p.version == "22.0.2"


def test_npu_smi_310_card_with_four_devices():
    row = "| {i}       310       | OK              | 12.8         45                0    / 0              |\n"
    t = "".join(row.format(i=i) for i in range(4))
    p = parse_npu_smi(t)
    assert p.chip_names == ["310"] * 4 and p.soc_version == "Ascend310"


# ---------------------------------------------------------------- garbage, empty, unreadable
@pytest.mark.parametrize("tool", ["benchmark", "ais_bench", "vamp", "trtexec", "op_statistic", "npu-smi"])
@pytest.mark.parametrize("content", ["", "Segmentation fault (core dumped)\n", "\x00\x01garbage\xff"])
def test_garbage_is_a_clear_error(tmp_path, tool, content):
    f = tmp_path / "tool.log"
    f.write_text(content, encoding="utf-8", errors="replace")
    with pytest.raises(LogParseError) as err:
        parse_file(tool, f)
    assert str(f) in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(LogParseError, match="cannot read the file"):
        parse_file("vamp", tmp_path / "absent.log")


# ---------------------------------------------------------------- srharness parse-log
def test_cli_parse_log_json(capsys):
    import json

    from srharness.cli import main
    assert main(["parse-log", "vamp", str(LOGS / "vamp_rcan_sr4k_2-2-16_i1.txt"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tool"] == "vamp" and out["throughput_qps"] == 36.1415 and out["e2e_latency_us"]["p99"] == 83121
    assert main(["parse-log", "op_statistic", str(LOGS / "op_statistic_0_1_rdn_before_fix.csv"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [h["op_type"] for h in out["hotspots"]] == ["TransData", "TransposeD"]
    assert main(["parse-log", "trtexec", str(LOGS / "trtexec_rdn_t4_fp16.txt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fps_batch1"] == pytest.approx(25.393, abs=1e-3)


def test_cli_parse_log_bad_file_is_a_user_error(tmp_path, capsys):
    from srharness.cli import main
    bad = tmp_path / "perf.txt"
    bad.write_text("[e2e] throughputRate: 3.7, latency: 1334\n")
    assert main(["parse-log", "benchmark", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "no [infer] line" in err and "Traceback" not in err


# ---------------------------------------------------------------- repeated lines: one rule for every parser
def test_an_identical_repeated_line_is_accepted_a_conflicting_one_is_an_error():
    t = text("benchmark_srcnn_perf_vision_batchsize_1_device_0.txt")
    infer = next(l for l in t.splitlines() if l.startswith("[infer]"))
    assert parse_benchmark(t + infer + "\n").interface_throughput == 348.038
    with pytest.raises(LogParseError, match=r"perf.txt: .*line 6: a second \[infer\] line that differs from line"):
        parse_benchmark(t + infer.replace("348.038", "348.1") + "\n", "perf.txt")


def test_figures_name_file_line_and_value():
    t = text("vamp_rcan_sr4k_2-2-16_i1.txt").replace("throughput (qps): 36.1415", "throughput (qps): 0")
    with pytest.raises(LogParseError, match=r"vamp.log: .*line \d+ throughput \(qps\) is '0': must be positive"):
        parse_vamp(t, "vamp.log")


# ---------------------------------------------------------------- the formats users' logs have (issue 18)
# one fixture per format, each written from a real log (fixtures/logs/README.md names its source)
def test_trtexec_7x_lower_case_throughput_of_zero_is_absent_not_a_figure():
    p = parse_file("trtexec", LOGS / "trtexec_ufld_t4_7x_bs1.txt")
    assert p.gpu_compute_ms["mean"] == 1.52162 and p.total_compute_s == 2.99759
    assert p.throughput_qps is None and "0 qps" in p.absent["throughput_qps"]
    one = text("trtexec_ufld_t4_7x_bs1.txt").replace("throughput: 0 qps", "throughput: 18.0758 qps")
    assert parse_trtexec(one).throughput_qps == 18.0758     # 7.x prints it in lower case


def test_trtexec_7x_log_of_two_runs_is_refused_not_read_as_the_first():
    with pytest.raises(LogParseError, match="GPU Compute min given twice"):
        parse_file("trtexec", LOGS / "trtexec_ufld_t4_7x_two_runs.txt")


def test_trtexec_8x_total_gpu_compute_time_and_version():
    p = parse_file("trtexec", LOGS / "trtexec_8502_yolox_jetson_summary.txt")
    assert p.gpu_compute_ms == {"min": 10.0343, "max": 10.3575, "mean": 10.1824, "median": 10.1851,
                                "p90": 10.3206, "p95": 10.338, "p99": 10.356}
    assert p.total_compute_s == 3.02418 and p.tensorrt_version == "8.5.2"


def test_ais_bench_batchsize_in_parentheses():
    p = parse_file("ais_bench", LOGS / "ais_bench_twins_svt_l_batchsize_paren.txt")
    assert p.throughput == 148.1286544184991 and p.batch == 64 and p.npu_compute_ms["p99"] == 432.2307962036133


def test_ais_infer_early_throughput_line():
    p = parse_file("ais_bench", LOGS / "ais_infer_centroids_reid_early_throughput.txt")
    assert p.throughput == 1281.4860983806905 and p.batch is None
    assert p.other_blocks["D2H_latency"]["mean"] == 0.0


def test_ais_bench_two_devices_is_the_summary_throughput():
    p = parse_file("ais_bench", LOGS / "ais_bench_two_devices.txt")
    assert p.throughput == 449.19304927470046
    assert p.devices == {"0": {"throughput": 222.76300429514114}, "1": {"throughput": 226.43004497955928}}
    assert p.other_blocks["NPU_compute_time#2"]["mean"] == 4.4890
    bad = text("ais_bench_two_devices.txt").replace("summary throughput:449.19304927470046", "summary throughput:500")
    with pytest.raises(LogParseError, match="not the sum of the devices"):
        parse_ais_bench(bad)


def test_ais_bench_throughput_must_be_1000_b_over_t():
    bad = text("ais_bench_twins_svt_l_batchsize_paren.txt").replace("batchsize(64)", "batchsize(32)")
    with pytest.raises(LogParseError, match=r"is not 1000\*batchsize\(32"):
        parse_ais_bench(bad)


def test_benchmark_inference_stage_names():
    p = parse_file("benchmark", LOGS / "benchmark_rdn_inference_stages.txt")
    assert p.interface_throughput == 7.41332 and p.infer_latency_ms == 135.745 and p.e2e_latency_ms == 1386.93


@pytest.mark.parametrize("name, throughput, latency", [("benchmark_edsr_pure_infer_equals.txt", 22.3706, 44.7073),
                                                       ("benchmark_dpn131_pure_infer_colon.txt", 38.4344, 26.1589)])
def test_benchmark_pure_inference_summary(name, throughput, latency):
    p = parse_file("benchmark", LOGS / name)
    assert (p.mode, p.interface_throughput, p.infer_latency_ms) == ("pure_infer", throughput, latency)
    assert p.e2e_throughput is None


def test_vamp_2025_avg_min_max_blocks_are_read_and_percentiles_absent():
    p = parse_file("vamp", LOGS / "vamp_2025_yolov4_fp16.txt")
    assert p.throughput_qps == 124.319 and p.samples == 1024 and p.forward_time_s == 8.23685 and p.instances == 1
    assert p.e2e_latency_us == {"avg": 135704, "min": 16676, "max": 146126}
    assert "vamp 2025" in p.absent["e2e p99 latency"]


def test_vamp_2025_instances_banner():
    p = parse_file("vamp", LOGS / "vamp_2025_doc_banner.txt")
    assert p.instances == 3 and p.batch == 8 and p.throughput_qps == 3101.12
    assert p.model_latency_us == {"avg": 315, "min": 315} and "model max latency" in p.absent


def test_op_statistic_cann8_layout():
    p = parse_file("op_statistic", LOGS / "op_statistic_cann8_msprof.csv")
    assert p.layout == "cann8" and [o.op_type for o in p.ops] == ["RmsNormTactic", "ArgMaxV2"]
    assert p.ops[0].device_id == 0 and p.ops[0].model_name is None and p.ops[0].ratio_pct == 45.699
    assert parse_file("op_statistic", LOGS / "op_statistic_0_1_rdn_before_fix.csv").layout == "cann7"


def test_op_statistic_layouts_are_the_specs():
    import yaml

    from srharness.tools import ascend_logs
    spec = yaml.safe_load((LOGS.parent / "vendor_specs" / "op_statistic.yaml").read_text())
    for layout, entry in spec["layouts"].items():
        first, *rest = entry["header"]
        assert ascend_logs._OPSTAT_LAYOUTS[first] == layout and rest == list(ascend_logs._OPSTAT_COLUMNS.values())


def test_ais_bench_spec_examples_parse():
    import yaml
    spec = yaml.safe_load((LOGS.parent / "vendor_specs" / "ais_bench.yaml").read_text())
    for form in spec["throughput"]:
        example = form["example"]
        mean = float(example.split("NPU_compute_time.mean(")[1].split(")")[0]) if "mean(" in example else 0.78
        text = f"[INFO] NPU_compute_time (ms): min = {mean * 0.99}, max = {mean * 1.01}, mean = {mean}, median = {mean}\n"
        assert parse_ais_bench(text + example + "\n").throughput == float(example.rsplit(":", 1)[1])
