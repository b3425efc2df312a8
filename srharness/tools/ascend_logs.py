"""Parsers of the Ascend tools' outputs (beside srharness.tools.ascend, which builds their command
lines): the `benchmark` perf files, `ais_bench` / `ais_infer` console summaries and sumary.json,
the profiler's `op_statistic_*.csv` and `npu-smi info`. Shared base: srharness.tools.parsing."""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from srharness import validate
from srharness.tools.parsing import (
    _NUM,
    _NUM_RX,
    MAX_LINE_CHARS,
    LogParseError,
    _check_order,
    _figure,
    _lines,
    _pairs,
    _Record,
    _set_once,
    _stat_key,
)


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


_AIS_THROUGHPUT = re.compile(
    rf"throughput 1000\*batchsize\.mean\(({_NUM})\)/NPU_compute_time\.mean\(({_NUM})\):\s{{0,16}}({_NUM})")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


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
