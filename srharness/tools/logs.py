"""Parsers for the vendor tools' outputs: Ascend `benchmark` perf files, `ais_bench`, VastAI
`vamp`, TensorRT `trtexec`, Ascend profiling `op_statistic_*.csv` and `npu-smi info`.

Each parser takes the text and the name of where it came from and returns a dataclass. A log
that lacks a figure the parser needs raises `LogParseError` naming the source and what was
missing: a figure is never defaulted to zero. Every figure passes `srharness.validate` (finite,
throughput and latency > 0, percentages in 0..100, counts whole) or the parser raises
`LogParseError` naming the file, the line and the value. The exact samples are in fixtures/logs/.

Hostile input: every parser runs in linear time. Lines are split with `str` methods and each
number is matched with an unambiguous, length-bounded pattern (no nested or overlapping
quantifiers); lines longer than MAX_LINE_CHARS are never a summary line and are skipped; a file
over MAX_LOG_BYTES is refused. A figure printed twice with different values (two `[infer]` lines,
two `throughput (qps)` lines) is an error: which run it belongs to cannot be known.

    parse_file("vamp", "run.log")        # -> VampPerf
    PARSERS["trtexec"](text, "stdout")   # -> TrtexecPerf
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from srharness import validate
from srharness.validate import FigureError
from srharness.errors import InputError

# One number: sign, digits with an optional fraction (or a bare fraction), optional exponent.
# Unambiguous (each character has one place to go) and bounded, so matching is linear.
_NUM = r"[-+]?(?:\d{1,40}(?:\.\d{0,40})?|\.\d{1,40})(?:[eE][-+]?\d{1,4})?"
_NUM_RX = re.compile(_NUM)
MAX_LINE_CHARS = 64 * 1024         # a summary line is < 1 KB; longer lines are progress bars or junk
MAX_LOG_BYTES = 256 * 1024 * 1024  # parse_file refuses larger files


class LogParseError(InputError):
    """A tool log that does not hold what its parser needs."""

    def __init__(self, source: str, tool: str, missing: str, hint: str = ""):
        self.source, self.tool, self.missing = source, tool, missing
        msg = f"{source}: not a usable {tool} log: {missing}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)


def _figure(check: Callable, value, source: str, tool: str, what: str):
    """`check` (a srharness.validate function) on one value, as a LogParseError naming the file."""
    try:
        return check(value, what)
    except FigureError as exc:
        raise LogParseError(source, tool, f"{exc.what} is {validate._show(value)}: {exc.problem}") from None


def _number(value: str, source: str, tool: str, what: str) -> float:
    return _figure(validate.finite, value, source, tool, what)


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) for the lines short enough to be a tool's summary line."""
    for n, line in enumerate(text.splitlines(), start=1):
        if len(line) <= MAX_LINE_CHARS:
            yield n, line


def _set_once(store: dict, key: str, value, source: str, tool: str, where: str, first_where: dict) -> None:
    """A figure printed twice must agree with itself; a conflicting repeat is an error."""
    if key in store and store[key] != value:
        raise LogParseError(source, tool, f"{where}: {key} is {value!r}, but {first_where[key]} gave {store[key]!r}",
                            "a log holds one run; split the file or parse the run you mean")
    if key not in store:
        store[key], first_where[key] = value, where


def _pairs(rest: str, sep: str) -> Iterator[tuple[str, str]]:
    """`key<sep> value, key<sep> value` -> (key, value text), by splitting (linear)."""
    for piece in rest.split(","):
        key, found, value = piece.partition(sep)
        if found:
            yield key.strip(), value.strip()


class _Record:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- Ascend benchmark
@dataclass
class BenchmarkPerf(_Record):
    """`result/perf_vision_batchsize_<B>_device_<D>.txt` of the Ascend `benchmark` tool."""
    source: str
    interface_throughput: float   # [infer] Interface throughputRate: per device, the guides' figure
    infer_throughput: float
    infer_latency_ms: float       # [infer] moduleLatency
    e2e_throughput: float
    e2e_latency_ms: float
    stages: dict[str, dict[str, float]] = field(default_factory=dict)  # every "[stage] key: v" pair


_BENCH_KEY = re.compile(r"[A-Za-z][A-Za-z ]{0,63}")


def parse_benchmark(text: str, source: str = "<benchmark>") -> BenchmarkPerf:
    tool = "benchmark"
    stages: dict[str, dict[str, float]] = {}
    seen_at: dict[str, int] = {}
    for n, line in _lines(text):
        head = line.lstrip()
        if not head.startswith("["):
            continue
        stage, found, rest = head[1:].partition("]")
        if not found or not stage.strip() or len(stage) > 64:
            continue
        stage = stage.strip()
        pairs: dict[str, float] = {}
        for key, value in _pairs(rest, ":"):
            if _BENCH_KEY.fullmatch(key) and _NUM_RX.fullmatch(value):
                pairs[key] = _figure(validate.non_negative, value, source, tool, f"line {n} [{stage}] {key}")
        if not pairs:
            continue
        if stage in stages and stages[stage] != pairs:
            raise LogParseError(source, tool, f"line {n}: a second [{stage}] line that differs from line "
                                f"{seen_at[stage]}", "a perf file holds one run; take the file of the run you mean")
        stages[stage], seen_at[stage] = pairs, n

    def need(stage: str, key: str) -> float:
        if stage not in stages:
            raise LogParseError(source, tool, f"no [{stage}] line",
                                "expected the perf_vision_batchsize_*_device_*.txt file the tool writes under result/")
        if key not in stages[stage]:
            raise LogParseError(source, tool, f"[{stage}] line has no '{key}: <number>'")
        return _figure(validate.positive, stages[stage][key], source, tool,
                       f"line {seen_at[stage]} [{stage}] {key}")

    return BenchmarkPerf(
        source=source,
        interface_throughput=need("infer", "Interface throughputRate"),
        infer_throughput=need("infer", "throughputRate"),
        infer_latency_ms=need("infer", "moduleLatency"),
        e2e_throughput=need("e2e", "throughputRate"),
        e2e_latency_ms=need("e2e", "latency"),
        stages=stages,
    )


# ---------------------------------------------------------------- ais_bench
@dataclass
class AisBenchPerf(_Record):
    source: str
    npu_compute_ms: dict[str, float]   # min max mean median p99
    throughput: float                  # 1000*batchsize/NPU_compute_time.mean, as the tool prints it
    batch: float
    other_blocks: dict[str, dict[str, float]] = field(default_factory=dict)  # H2D_latency, D2H_latency ...


_AIS_STAT_KEY = re.compile(r"min|max|mean|median|percentile\((\d{1,3})%\)")
_AIS_THROUGHPUT = re.compile(
    rf"throughput 1000\*batchsize\.mean\(({_NUM})\)/NPU_compute_time\.mean\(({_NUM})\):\s{{0,16}}({_NUM})")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_STAT_ORDER = ("min", "median", "max")


def _stat_key(key: str) -> str | None:
    m = _AIS_STAT_KEY.fullmatch(key)
    if not m:
        return None
    return f"p{m[1]}" if m[1] else key


def _check_order(stats: dict[str, float], source: str, tool: str, what: str,
                 keys: tuple[str, ...] = ("mean", "median")) -> None:
    """min <= mean, median <= max: a block that breaks it is corrupt, whatever its numbers."""
    lo, hi = stats.get("min"), stats.get("max")
    if lo is None or hi is None:
        return
    for key in keys:
        v = stats.get(key)
        if v is not None and not (lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)):
            raise LogParseError(source, tool, f"{what}: {key} {v!r} lies outside min {lo!r} .. max {hi!r}")


def _ais_block_name(prefix: str) -> str:
    """The identifier just before ' (ms):' (scanned from the right, at most 64 characters)."""
    i = len(prefix)
    while i > 0 and len(prefix) - i < 64 and prefix[i - 1] in _NAME_CHARS:
        i -= 1
    return prefix[i:]


def parse_ais_bench(text: str, source: str = "<ais_bench>") -> AisBenchPerf:
    """The console summary of ais_bench / `ait benchmark`, or its `sumary.json` (sic)."""
    tool = "ais_bench"
    stripped = text.strip()
    if stripped.startswith("{"):
        return _parse_ais_summary_json(stripped, source)
    blocks: dict[str, dict[str, float]] = {}
    block_line: dict[str, int] = {}
    found: dict[str, Any] = {}
    found_at: dict[str, str] = {}
    for n, line in _lines(text):
        prefix, marker, rest = line.partition(" (ms):")
        name = _ais_block_name(prefix) if marker else ""
        if name:
            stats: dict[str, float] = {}
            for key, value in _pairs(rest, "="):
                k = _stat_key(key)
                if k is None:
                    continue
                v = _figure(validate.non_negative, value, source, tool, f"line {n} {name} {key}")
                if k in stats and stats[k] != v:
                    raise LogParseError(source, tool, f"line {n}: {name} {key} given twice ({stats[k]!r}, {v!r})")
                stats[k] = v
            if name in blocks and blocks[name] != stats:
                raise LogParseError(source, tool, f"line {n}: a second {name} line that differs from line "
                                    f"{block_line[name]}", "a log holds one run; split the file")
            blocks[name], block_line[name] = stats, n
        if "throughput 1000*" in line:
            t = _AIS_THROUGHPUT.search(line)
            if t:
                where = f"line {n}"
                _set_once(found, "batchsize.mean", _figure(validate.positive, t[1], source, tool,
                                                           f"{where} batchsize.mean"), source, tool, where, found_at)
                _set_once(found, "NPU_compute_time.mean", _figure(validate.positive, t[2], source, tool,
                                                                  f"{where} NPU_compute_time.mean"),
                          source, tool, where, found_at)
                _set_once(found, "throughput", _figure(validate.positive, t[3], source, tool, f"{where} throughput"),
                          source, tool, where, found_at)
    if "NPU_compute_time" not in blocks:
        raise LogParseError(source, tool, "no 'NPU_compute_time (ms): min = ...' line",
                            "run ais_bench to completion; the summary is printed at the end")
    npu = blocks.pop("NPU_compute_time")
    where = f"line {block_line['NPU_compute_time']} NPU_compute_time"
    for key in ("min", "max", "mean", "median"):
        if key not in npu:
            raise LogParseError(source, tool, f"NPU_compute_time line has no '{key} = <number>'")
        _figure(validate.positive, npu[key], source, tool, f"{where} {key}")
    _check_order(npu, source, tool, where)
    if "throughput" not in found:
        raise LogParseError(source, tool, "no 'throughput 1000*batchsize.mean(B)/NPU_compute_time.mean(T): F' line")
    return AisBenchPerf(source, npu, found["throughput"], found["batchsize.mean"], blocks)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _parse_ais_summary_json(text: str, source: str) -> AisBenchPerf:
    tool = "ais_bench sumary.json"
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:   # JSONDecodeError is a ValueError
        raise LogParseError(source, tool, f"invalid JSON ({str(exc)[:200]})") from None
    npu = data.get("NPU_compute_time") if isinstance(data, dict) else None
    if not isinstance(npu, dict) or "mean" not in npu:
        raise LogParseError(source, tool, "no NPU_compute_time.mean")
    stats: dict[str, float] = {}
    for k, v in npu.items():
        key = _stat_key(k)
        if key is not None:
            stats[key] = _figure(validate.positive, v, source, tool, f"NPU_compute_time.{k}")
    _check_order(stats, source, tool, "NPU_compute_time")
    if "throughput" not in data:
        raise LogParseError(source, tool, "no throughput")
    throughput = _figure(validate.positive, data["throughput"], source, tool, "throughput")
    batch = _figure(validate.positive, data.get("batchsize", 1), source, tool, "batchsize")
    others = {k: {kk: _figure(validate.finite, vv, source, tool, f"{k}.{kk}") for kk, vv in v.items()
                  if isinstance(vv, (int, float)) and not isinstance(vv, bool)}
              for k, v in data.items() if isinstance(v, dict) and k != "NPU_compute_time"}
    return AisBenchPerf(source, stats, throughput, batch, others)


# ---------------------------------------------------------------- VastAI vamp
@dataclass
class VampPerf(_Record):
    source: str
    throughput_qps: float
    e2e_latency_us: dict[str, float]      # avg min max p50 p90 p95 p99
    model_latency_us: dict[str, float]
    instances: int | None = None
    batch: int | None = None
    devices: list[int] = field(default_factory=list)
    ai_utilize_pct: float | None = None
    temperature_c: float | None = None
    card_power_w: float | None = None
    die_memory_mb: float | None = None
    input_shape: list[int] | None = None


# label (lower-case, as printed) -> (figure name, check). "batch szie" is the tool's own typo in
# one version (seed 000); both spellings are read.
_VAMP_SCALARS = {
    "batch size": ("batch", lambda v, w: validate.count(v, w, minimum=1)),
    "batch szie": ("batch", lambda v, w: validate.count(v, w, minimum=1)),
    "number of instances in each device": ("instances", lambda v, w: validate.count(v, w, minimum=1)),
    "ai utilize (%)": ("ai_utilize_pct", validate.percentage),
    "temperature (°c)": ("temperature_c", validate.finite),
    "temperature (c)": ("temperature_c", validate.finite),
    "card power (w)": ("card_power_w", validate.non_negative),
    "die memory used (mb)": ("die_memory_mb", validate.non_negative),
    "throughput (qps)": ("throughput_qps", validate.positive),
}
_VAMP_LAT_KEY = re.compile(r"avg|min|max|p\d{1,3}")
_VAMP_KEYS = ("avg", "min", "max", "p50", "p90", "p95", "p99")
_INT_LIST = re.compile(r"\s*\d{1,9}(?:\s*,\s*\d{1,9}){0,15}\s*")


def _int_list(text: str, source: str, what: str, n: int) -> list[int] | None:
    inner = text.strip()
    if not (inner.startswith("[") and inner.endswith("]")):
        return None
    inner = inner[1:-1]
    if not inner.strip():
        return []
    if not _INT_LIST.fullmatch(inner):
        raise LogParseError(source, "vamp", f"line {n}: {what} is {validate._show(text.strip())}, "
                            "not a list of whole numbers")
    return [int(d) for d in inner.split(",")]


def parse_vamp(text: str, source: str = "<vamp>") -> VampPerf:
    tool = "vamp"
    found: dict[str, Any] = {}
    found_at: dict[str, str] = {}
    blocks: dict[str, dict[str, float]] = {}
    current: dict[str, float] | None = None
    current_name = ""
    devices: list[int] = []
    shape = None
    for n, line in _lines(text):
        label, colon, value = line.partition(":")
        label = label.strip().lstrip("-").strip().lower()
        value = value.strip()
        if colon and label in ("e2e latency (us)", "model latency (us)") and not value:
            name = label.split()[0]
            if name in blocks:
                raise LogParseError(source, tool, f"line {n}: a second '{name} latency (us):' block",
                                    "a log holds one run; split the file")
            current, current_name = blocks.setdefault(name, {}), name
            continue
        if current is not None:
            key = label.removesuffix(" latency") if label.endswith(" latency") else None
            if colon and key is not None and _VAMP_LAT_KEY.fullmatch(key) and key not in current:
                current[key] = _figure(validate.positive, value, source, tool,
                                       f"line {n} {current_name} {key} latency")
                continue
            if line.strip():
                current = None
        if not colon:
            continue
        if label not in _VAMP_SCALARS:   # a log prefix ("[INFO] throughput (qps): ...") before the label
            label = next((k for k in _VAMP_SCALARS if label.endswith((" " + k, "]" + k))), label)
        if label in _VAMP_SCALARS:
            name, check = _VAMP_SCALARS[label]
            _set_once(found, name, _figure(check, value, source, tool, f"line {n} {label}"),
                      source, tool, f"line {n}", found_at)
        elif label == "devices":
            devices = _int_list(value.partition("]")[0] + "]", source, "devices", n) or devices
        elif label == "model input shape 0":
            shape = _int_list(value.partition("]")[0] + "]", source, "model input shape", n) or shape
            if shape is not None and any(d < 1 for d in shape):
                raise LogParseError(source, tool, f"line {n}: model input shape {shape} has a zero dimension")
    if "throughput_qps" not in found:
        raise LogParseError(source, tool, "no 'throughput (qps): <number>' line",
                            "vamp prints it when the run completes; check the run did not abort")
    for name in ("e2e", "model"):
        if name not in blocks:
            raise LogParseError(source, tool, f"no '{name} latency (us):' block")
        missing = [k for k in _VAMP_KEYS if k not in blocks[name]]
        if missing:
            raise LogParseError(source, tool, f"{name} latency block lacks {', '.join(missing)}")
        _check_order(blocks[name], source, tool, f"{name} latency block", keys=("avg", "p50", "p90", "p95", "p99"))
    return VampPerf(
        source=source,
        throughput_qps=found["throughput_qps"],
        e2e_latency_us=blocks["e2e"], model_latency_us=blocks["model"],
        instances=found.get("instances"), batch=found.get("batch"), devices=devices,
        ai_utilize_pct=found.get("ai_utilize_pct"), temperature_c=found.get("temperature_c"),
        card_power_w=found.get("card_power_w"), die_memory_mb=found.get("die_memory_mb"),
        input_shape=shape,
    )


# ---------------------------------------------------------------- TensorRT trtexec
@dataclass
class TrtexecPerf(_Record):
    source: str
    gpu_compute_ms: dict[str, float]     # min max mean median p<N>
    total_compute_s: float | None = None
    throughput_qps: float | None = None  # "Throughput: N qps" of newer trtexec, when printed

    def fps(self, batch: int = 1) -> float:
        """The guides' figure: 1000 / (mean latency / batch)."""
        fps = 1000.0 * batch / self.gpu_compute_ms["mean"]
        return _figure(validate.positive, fps, self.source, "trtexec", f"fps at batch {batch}")


_TRT_OLD_STAT = re.compile(rf"\]\s{{0,16}}(min|max|mean|median):\s{{0,16}}({_NUM})\s{{0,16}}ms")
_TRT_OLD_PCT = re.compile(rf"\]\s{{0,16}}percentile:\s{{0,16}}({_NUM})\s{{0,16}}ms at (\d{{1,3}})%")
_TRT_TOTAL = re.compile(rf"total compute time:\s{{0,16}}({_NUM})\s{{0,16}}s")
_TRT_NEW_STAT = re.compile(rf"({_NUM})\s{{0,16}}ms")
_TRT_SECONDS = re.compile(rf"({_NUM})\s{{0,16}}s")
_TRT_QPS = re.compile(rf"Throughput:\s{{0,16}}({_NUM})\s{{0,16}}qps")


def parse_trtexec(text: str, source: str = "<trtexec>") -> TrtexecPerf:
    """TensorRT 7's multi-line `GPU Compute` block (the guides' T4 runs) or TensorRT 8+'s one-line
    `GPU Compute Time: min = ... ms, ...` summary."""
    tool = "trtexec"
    lines = list(_lines(text))
    stats: dict[str, float] = {}
    total = qps = None
    start = next((i for i, (_, l) in enumerate(lines) if l.rstrip().endswith("GPU Compute")
                  and l.rstrip()[:-len("GPU Compute")].rstrip().endswith("]")), None)

    def put(key: str, value: str, n: int) -> None:
        v = _figure(validate.positive, value, source, tool, f"line {n} GPU Compute {key}")
        if key in stats and stats[key] != v:
            raise LogParseError(source, tool, f"line {n}: GPU Compute {key} given twice ({stats[key]!r}, {v!r})",
                                "a log holds one run; split the file")
        stats[key] = v

    if start is not None:
        for n, line in lines[start + 1:]:
            m = _TRT_OLD_STAT.search(line)
            p = _TRT_OLD_PCT.search(line)
            t = _TRT_TOTAL.search(line)
            if m:
                put(m[1], m[2], n)
            elif p:
                put(f"p{p[2]}", p[1], n)
            elif t:
                total = _figure(validate.positive, t[1], source, tool, f"line {n} total compute time")
                break
            else:
                break
    else:
        for n, line in lines:
            head, marker, rest = line.partition("GPU Compute Time:")
            if not marker:
                continue
            if head.rstrip().endswith("Total"):   # TensorRT 8+: "Total GPU Compute Time: 2.98597 s"
                t = _TRT_SECONDS.fullmatch(rest.strip())
                if t:
                    total = _figure(validate.positive, t[1], source, tool, f"line {n} Total GPU Compute Time")
                continue
            for key, value in _pairs(rest, "="):
                k = _stat_key(key)
                m = _TRT_NEW_STAT.fullmatch(value)
                if k is not None and m:
                    put(k, m[1], n)
                elif k is not None:
                    raise LogParseError(source, tool, f"line {n}: GPU Compute Time {key} is "
                                        f"{validate._show(value)}, not '<number> ms'")
            t = _TRT_TOTAL.search(rest)
            if t:
                total = _figure(validate.positive, t[1], source, tool, f"line {n} total compute time")
    if not stats:
        raise LogParseError(source, tool, "no 'GPU Compute' block",
                            "trtexec prints it in its performance summary; the run may have failed before")
    for key in ("min", "max", "mean", "median"):
        if key not in stats:
            raise LogParseError(source, tool, f"GPU Compute block has no '{key}' line")
    _check_order(stats, source, tool, "GPU Compute")
    for n, line in lines:
        if "Throughput:" in line:
            q = _TRT_QPS.search(line)
            if q:
                v = _figure(validate.positive, q[1], source, tool, f"line {n} Throughput")
                if qps is not None and qps != v:
                    raise LogParseError(source, tool, f"line {n}: a second Throughput {v!r} (first {qps!r})")
                qps = v
    result = TrtexecPerf(source, stats, total, qps)
    result.fps(1)   # a mean so small that its fps overflows is refused here, not at report time
    return result


# ---------------------------------------------------------------- Ascend profiling op_statistic
@dataclass
class OpStat(_Record):
    model_name: str
    op_type: str
    core_type: str
    count: int
    total_time_us: float
    min_time_us: float
    avg_time_us: float
    max_time_us: float
    ratio_pct: float


@dataclass
class OpStatistic(_Record):
    source: str
    ops: list[OpStat]     # the hotspot rule on these is srharness.perf.find_hotspots


_OPSTAT_COLUMNS = {
    "model_name": "Model Name", "op_type": "OP Type", "core_type": "Core Type", "count": "Count",
    "total_time_us": "Total Time(us)", "min_time_us": "Min Time(us)", "avg_time_us": "Avg Time(us)",
    "max_time_us": "Max Time(us)", "ratio_pct": "Ratio(%)",
}
_OPSTAT_CHECKS = {"count": lambda v, w: validate.count(v, w, minimum=1), "ratio_pct": validate.percentage}
RATIO_SUM_SLACK_PCT = 1.0   # the profiler rounds each ratio; their sum may exceed 100 by this much


def parse_op_statistic(text: str, source: str = "<op_statistic>") -> OpStatistic:
    tool = "op_statistic"
    if any(len(line) > MAX_LINE_CHARS for line in text.splitlines()):
        raise LogParseError(source, tool, f"a line is longer than {MAX_LINE_CHARS} characters: not a profiler CSV")
    try:
        rows = list(csv.reader(io.StringIO(text.strip(), newline="")))
    except csv.Error as exc:
        raise LogParseError(source, tool, f"not a CSV file ({exc})",
                            "expected the op_statistic_*.csv written by the Ascend profiler") from None
    if not rows:
        raise LogParseError(source, tool, "the file is empty")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in _OPSTAT_COLUMNS.values() if c not in header]
    if missing:
        raise LogParseError(source, tool, f"header lacks column(s) {', '.join(missing)}",
                            "expected the op_statistic_*.csv written by the Ascend profiler")
    index = {k: header.index(c) for k, c in _OPSTAT_COLUMNS.items()}
    ops = []
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise LogParseError(source, tool, f"line {n} has {len(row)} cells, header has {len(header)}")
        cell = {k: row[i].strip() for k, i in index.items()}
        num = {k: _figure(_OPSTAT_CHECKS.get(k, validate.non_negative), cell[k], source, tool,
                          f"line {n} {_OPSTAT_COLUMNS[k]}")
               for k in index if k not in ("model_name", "op_type", "core_type")}
        if not cell["op_type"]:
            raise LogParseError(source, tool, f"line {n}: empty OP Type")
        _check_order({"min": num["min_time_us"], "mean": num["avg_time_us"], "max": num["max_time_us"]},
                     source, tool, f"line {n} times")
        ops.append(OpStat(cell["model_name"], cell["op_type"], cell["core_type"], num.pop("count"), **num))
    if not ops:
        raise LogParseError(source, tool, "no op rows under the header")
    total = sum(o.ratio_pct for o in ops)
    if total > 100.0 + RATIO_SUM_SLACK_PCT:
        raise LogParseError(source, tool, f"the Ratio(%) column sums to {total:.2f}%, more than 100%")
    return OpStatistic(source, ops)


# ---------------------------------------------------------------- npu-smi info
@dataclass
class NpuSmiInfo(_Record):
    source: str
    version: str | None
    chip_names: list[str]          # the Name column per NPU, e.g. ["310P3"]

    @property
    def soc_version(self) -> str:
        """The atc --soc_version value: `Ascend` + the chip name (310P3 -> Ascend310P3)."""
        name = self.chip_names[0]
        return name if name.startswith("Ascend") else f"Ascend{name}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "soc_version": self.soc_version}


# "| 0       310P3     | OK              | ..." : NPU id, chip name, health word. The Chip/Device row
# under it has a Bus-Id ("0000:AF:00.0") where the health word would be, so it does not match.
_SMI_NPU_ROW = re.compile(r"\|\s{0,64}(\d{1,4})\s{1,64}([A-Za-z0-9]{1,32})\s{0,64}\|\s{0,64}([A-Za-z]{1,32})\s{0,64}\|")
_SMI_VERSION = re.compile(r"Version:\s{0,16}([\w.\-]{1,64})")


def parse_npu_smi(text: str, source: str = "<npu-smi info>") -> NpuSmiInfo:
    version = None
    names = []
    for _, line in _lines(text):
        if version is None and "Version:" in line:
            v = _SMI_VERSION.search(line)
            version = v[1] if v else None
        m = _SMI_NPU_ROW.match(line.strip())
        if m:
            names.append(m[2])
    if not names:
        raise LogParseError(source, "npu-smi info", "no NPU row with a chip name (e.g. '| 0  310P3 | OK |')",
                            "is the driver loaded? `npu-smi info` lists one row per NPU")
    return NpuSmiInfo(source, version, names)


PARSERS: dict[str, Callable[[str, str], _Record]] = {
    "benchmark": parse_benchmark,
    "ais_bench": parse_ais_bench,
    "vamp": parse_vamp,
    "trtexec": parse_trtexec,
    "op_statistic": parse_op_statistic,
    "npu-smi": parse_npu_smi,
}


def parse_file(tool: str, path: str | Path):
    if tool not in PARSERS:
        raise KeyError(f"no parser for {tool!r}; known: {', '.join(PARSERS)}")
    path = Path(path)
    try:
        if path.exists() and not path.is_file():   # a folder, a FIFO or /dev/zero would never end
            raise LogParseError(str(path), tool, "not a regular file; give the log file itself")
        size = path.stat().st_size
        if size > MAX_LOG_BYTES:
            raise LogParseError(str(path), tool, f"the file is {size} bytes, more than {MAX_LOG_BYTES}: not a tool log")
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise LogParseError(str(path), tool, f"cannot read the file ({exc.strerror or exc})") from None
    return PARSERS[tool](text, str(path))
