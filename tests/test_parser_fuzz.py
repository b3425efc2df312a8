"""Property-based fuzz of every vendor-log parser (srharness.tools.logs) over mutations of the
recorded logs in fixtures/logs: numbers replaced by hostile ones (0, negative, NaN, inf, 1e999,
denormals, fractions, huge digit strings), lines duplicated, dropped, cut or joined, junk and very
long lines inserted, bytes flipped.

Properties, for every parser:
- it returns a result or raises LogParseError; nothing else escapes;
- a returned headline figure is finite and positive (percentages in 0..100, counts whole);
- it runs in linear time: a 1 MB line is parsed in under a second.
"""
from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from srharness.tools.logs import PARSERS, LogParseError

LOGS = Path(__file__).resolve().parents[1] / "fixtures" / "logs"
FIXTURES = {
    "benchmark": ["benchmark_srcnn_perf_vision_batchsize_1_device_0.txt", "benchmark_rdn_perf_vision_batchsize_1_device_0.txt"],
    "ais_bench": ["ais_bench_resnet50_bs1.txt"],
    "vamp": ["vamp_rcan_sr4k_2-2-16_i1.txt", "vamp_rcan_sr4k_3-2-32_i8.txt"],
    "trtexec": ["trtexec_rdn_t4_fp16.txt", "trtexec_srcnn_t4_fp16.txt"],
    "op_statistic": ["op_statistic_0_1_rdn_before_fix.csv"],
    "npu-smi": ["npu_smi_info_310p3.txt"],
}
TEXTS = {tool: [(LOGS / f).read_text(encoding="utf-8") for f in files] for tool, files in FIXTURES.items()}
# sumary.json of ais_bench: the JSON form of the same parser
TEXTS["ais_bench"].append('{"NPU_compute_time": {"min": 1.0, "max": 3.0, "mean": 2.0, "median": 2.0, '
                          '"percentile(99%)": 2.9}, "throughput": 500.0, "batchsize": 1, "H2D_latency": {"mean": 0.1}}')
NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
# per parser; 400 keeps the file well under a minute on 2 cores (SRHARNESS_FUZZ_EXAMPLES=3000 for a deep run)
EXAMPLES = int(os.environ.get("SRHARNESS_FUZZ_EXAMPLES", "400"))

HOSTILE_NUMBERS = ["0", "0.0", "-0", "-1", "-3.5", "nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-1e999",
                   "1e-320", "4.9e-324", "1e308", "1.7976931348623157e308", "4.7", "0.5", "1e-300", "00",
                   "9" * 400, "1" * 5000, "1.2.3", "--1", "+5", ".", "e5", "1e", "0x10", "１２", "", " ", "null",
                   "[1, 2]", '"5"', "true"]


def _headline_ok(tool: str, r) -> None:
    """Assert what a parser may return: every headline figure finite and in its range."""
    def pos(x, what):
        assert isinstance(x, (int, float)) and not isinstance(x, bool), (what, x)
        assert math.isfinite(x) and x > 0, (what, x)

    if tool == "benchmark":
        for k in ("interface_throughput", "infer_throughput", "infer_latency_ms", "e2e_throughput", "e2e_latency_ms"):
            pos(getattr(r, k), k)
        for stage in r.stages.values():
            for k, v in stage.items():
                assert math.isfinite(v) and v >= 0, (k, v)
    elif tool == "ais_bench":
        pos(r.throughput, "throughput")
        pos(r.batch, "batch")
        for k, v in r.npu_compute_ms.items():
            pos(v, k)
    elif tool == "vamp":
        pos(r.throughput_qps, "throughput_qps")
        for block in (r.e2e_latency_us, r.model_latency_us):
            for k, v in block.items():
                pos(v, k)
        if r.ai_utilize_pct is not None:
            assert 0 <= r.ai_utilize_pct <= 100
        for k in ("instances", "batch"):
            v = getattr(r, k)
            assert v is None or (isinstance(v, int) and v >= 1), (k, v)
    elif tool == "trtexec":
        for k, v in r.gpu_compute_ms.items():
            pos(v, k)
        pos(r.fps(1), "fps")
        if r.total_compute_s is not None:
            pos(r.total_compute_s, "total")
        if r.throughput_qps is not None:
            pos(r.throughput_qps, "qps")
    elif tool == "op_statistic":
        assert r.ops
        for o in r.ops:
            assert isinstance(o.count, int) and o.count >= 1
            assert 0 <= o.ratio_pct <= 100
            for k in ("total_time_us", "min_time_us", "avg_time_us", "max_time_us"):
                v = getattr(o, k)
                assert math.isfinite(v) and v >= 0, (k, v)
        assert sum(o.ratio_pct for o in r.ops) <= 101
    elif tool == "npu-smi":
        assert r.chip_names and all(r.chip_names) and r.soc_version.startswith("Ascend")


@st.composite
def mutated(draw, tool: str) -> str:
    text = draw(st.sampled_from(TEXTS[tool]))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["number", "number", "number", "dup", "drop", "cut", "junk", "long", "flip", "join"]))
        lines = text.splitlines(keepends=True) or [""]
        if op == "number":
            spans = [m.span() for m in NUMBER.finditer(text)]
            if not spans:
                continue
            a, b = draw(st.sampled_from(spans))
            new = draw(st.one_of(st.sampled_from(HOSTILE_NUMBERS),
                                 st.floats(allow_nan=True, allow_infinity=True).map(repr),
                                 st.integers(-10 ** 30, 10 ** 30).map(str)))
            text = text[:a] + new + text[b:]
        elif op == "dup":
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines)))
            lines.insert(j, lines[i])
            text = "".join(lines)
        elif op == "drop":
            i = draw(st.integers(0, len(lines) - 1))
            del lines[i]
            text = "".join(lines)
        elif op == "cut":
            text = text[: draw(st.integers(0, len(text)))]
        elif op == "junk":
            j = draw(st.integers(0, len(lines)))
            lines.insert(j, draw(st.text(max_size=80)) + "\n")
            text = "".join(lines)
        elif op == "long":
            j = draw(st.integers(0, len(lines)))
            unit = draw(st.sampled_from(["a", "a ", "1", "1,", "[", "(ms): ", "= 1, ", ": 1 ", " ", "x:"]))
            lines.insert(j, unit * draw(st.integers(1000, 40000)) + "\n")
            text = "".join(lines)
        elif op == "flip" and text:
            i = draw(st.integers(0, len(text) - 1))
            text = text[:i] + draw(st.sampled_from(["\r", "\x00", "\ufffd", ",", ":", "=", "]", "\n", '"'])) + text[i + 1:]
        elif op == "join" and len(lines) > 1:
            i = draw(st.integers(0, len(lines) - 2))
            lines[i] = lines[i].rstrip("\n") + " " + lines.pop(i + 1)
            text = "".join(lines)
    return text


@pytest.mark.parametrize("tool", sorted(PARSERS))
def test_mutated_logs_give_a_valid_figure_or_log_parse_error(tool):
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(mutated(tool))
    def check(text):
        try:
            result = PARSERS[tool](text, "fuzz.log")
        except LogParseError as exc:
            assert str(exc).startswith("fuzz.log: ")   # the message names the file
            return
        _headline_ok(tool, result)

    check()


@pytest.mark.parametrize("tool", sorted(PARSERS))
def test_the_recorded_logs_still_parse(tool):
    for text in TEXTS[tool]:
        _headline_ok(tool, PARSERS[tool](text, "fixture"))


LONG_LINES = ["a" * 1_000_000, "a " * 500_000, "1" * 1_000_000, "1," * 500_000, "(ms): " * 170_000,
              "min = 1, " * 110_000, "[" * 1_000_000, "x: " * 330_000, "\t" * 1_000_000 + "]",
              "throughput 1000*batchsize.mean(" + "1" * 1_000_000, "GPU Compute Time: " + "1" * 1_000_000]


@pytest.mark.parametrize("tool", sorted(PARSERS))
@pytest.mark.parametrize("line", range(len(LONG_LINES)))
def test_a_1mb_line_is_parsed_in_linear_time(tool, line):
    text = TEXTS[tool][0]
    hostile = text + LONG_LINES[line] + "\n" if not text.lstrip().startswith("{") else LONG_LINES[line]
    start = time.perf_counter()
    try:
        result = PARSERS[tool](hostile, "long.log")
    except LogParseError:
        result = None
    took = time.perf_counter() - start
    assert took < 1.0, f"{tool}: a 1 MB line took {took:.2f} s"
    if result is not None:
        _headline_ok(tool, result)


def test_whole_log_of_50mb_is_linear():
    text = TEXTS["benchmark"][0] + ("[infer] " + "a" * 1000 + "\n") * 50_000   # 50 MB in 50,000 lines
    start = time.perf_counter()
    with pytest.raises(LogParseError):
        PARSERS["benchmark"](text + "[infer] throughputRate: 0\n", "big.log")
    assert time.perf_counter() - start < 10.0
