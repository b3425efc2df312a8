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
    """`result/perf_vision_batchsize_<B>_device_<D>.txt` of the Ascend `benchmark` tool, or its
    pure-inference summary (`benchmark -round=N`: `ave_throughputRate: 141.738samples/s,
    ave_latency: 7.35671ms`, also written with ` = `), where only the inference figures exist."""
    source: str
    interface_throughput: float   # [infer] Interface throughputRate: per device, the guides' figure
    infer_throughput: float
    infer_latency_ms: float       # [infer] moduleLatency
    e2e_throughput: float | None  # None in a pure-inference summary
    e2e_latency_ms: float | None
    stages: dict[str, dict[str, float]] = field(default_factory=dict)  # every "[stage] key: v" pair
    mode: str = "dataset"         # dataset (the perf file) | pure_infer (ave_throughputRate summary)


_BENCH_KEY = re.compile(r"[A-Za-z][A-Za-z ]{0,63}")
# a later RDN README (ModelZoo-PyTorch c0dfac636) names the stages [inference] / [postprocess]
_BENCH_STAGE_NAMES = {"infer": ("infer", "inference")}
_BENCH_PURE = re.compile(rf"ave_throughputRate\s{{0,4}}[:=]\s{{0,4}}({_NUM})\s{{0,4}}samples/s,\s{{0,4}}"
                         rf"ave_latency\s{{0,4}}[:=]\s{{0,4}}({_NUM})\s{{0,4}}ms")


def parse_benchmark(text: str, source: str = "<benchmark>") -> BenchmarkPerf:
    tool = "benchmark"
    stages: dict[str, dict[str, float]] = {}
    seen_at: dict[str, int] = {}
    pure: dict[str, float] = {}
    pure_at: dict[str, str] = {}
    for n, line in _lines(text):
        if "ave_throughputRate" in line:
            m = _BENCH_PURE.search(line)
            if m:
                for key, value in (("ave_throughputRate", m[1]), ("ave_latency", m[2])):
                    _set_once(pure, key, _figure(validate.positive, value, source, tool, f"line {n} {key}"),
                              source, tool, f"line {n}", pure_at)
            continue
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

    def stage_of(stage: str) -> str | None:
        found = [s for s in _BENCH_STAGE_NAMES.get(stage, (stage,)) if s in stages]
        if len(found) > 1:
            raise LogParseError(source, tool, f"both [{found[0]}] and [{found[1]}] lines: two runs in one file")
        return found[0] if found else None

    def need(stage: str, key: str) -> float:
        name = stage_of(stage)
        if name is None:
            raise LogParseError(source, tool, f"no [{stage}] line",
                                "expected the perf_vision_batchsize_*_device_*.txt file the tool writes under "
                                "result/, or a pure-inference 'ave_throughputRate: ...samples/s' summary")
        if key not in stages[name]:
            raise LogParseError(source, tool, f"[{name}] line has no '{key}: <number>'")
        return _figure(validate.positive, stages[name][key], source, tool, f"line {seen_at[name]} [{name}] {key}")

    if pure and stage_of("infer") is None:
        # the pure-inference summary: its throughput is what the guides multiply by 4 (EDSR's README)
        return BenchmarkPerf(source, interface_throughput=pure["ave_throughputRate"],
                             infer_throughput=pure["ave_throughputRate"], infer_latency_ms=pure["ave_latency"],
                             e2e_throughput=None, e2e_latency_ms=None, stages={}, mode="pure_infer")
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
    npu_compute_ms: dict[str, float]   # min max mean median p99; empty for a run on several devices
    throughput: float                  # 1000*batchsize/NPU_compute_time.mean (the summary's sum on several devices)
    batch: float | None                # None where the tool did not print it (early ais_infer)
    other_blocks: dict[str, dict[str, float]] = field(default_factory=dict)  # H2D_latency, D2H_latency ...
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)  # several devices: per device figures


# The throughput line as ais_bench / ais_infer printed it over the years (ModelZoo-PyTorch READMEs):
#   throughput 1000*batchsize.mean(B)/NPU_compute_time.mean(T): F     ait benchmark, ais_bench >= 0.0.2
#   throughput 1000*batchsize(B)/NPU_compute_time.mean(T): F          ais_bench (most ModelZoo READMEs)
#   throughput (1000*batchsize/NPU_compute_time): F                   early ais_infer (2022)
_AIS_THROUGHPUT = re.compile(
    rf"throughput 1000\*batchsize(?:\.mean)?\(({_NUM})\)/NPU_compute_time\.mean\(({_NUM})\):\s{{0,16}}({_NUM})")
_AIS_THROUGHPUT_EARLY = re.compile(rf"throughput \(1000\*batchsize/NPU_compute_time\):\s{{0,16}}({_NUM})")
# several devices (ais_bench's multidevice_run): "i:1 device_1 throughput:226.43 start_time:..." and
# "[INFO] summary throughput:449.19", the sum of the devices' throughputs
_AIS_DEVICE = re.compile(rf"\bdevice_(\d{{1,4}}) throughput:\s{{0,4}}({_NUM})")
_AIS_SUMMARY = re.compile(rf"summary throughput:\s{{0,4}}({_NUM})")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
THROUGHPUT_REL_TOL = 1e-3   # the tool prints F from B and T it also prints; a line where they disagree is corrupt


def _ais_block_name(prefix: str) -> str:
    """The identifier just before ' (ms):' (scanned from the right, at most 64 characters)."""
    i = len(prefix)
    while i > 0 and len(prefix) - i < 64 and prefix[i - 1] in _NAME_CHARS:
        i -= 1
    return prefix[i:]


def _ais_stats(rest: str, name: str, n: int, source: str, tool: str) -> dict[str, float]:
    """One `NAME (ms): min = .., max = .., ...` line; NPU_compute_time figures are > 0 (a 0 or -0
    percentile is no timing), transfer latencies >= 0."""
    check = validate.positive if name == "NPU_compute_time" else validate.non_negative
    stats: dict[str, float] = {}
    for key, value in _pairs(rest, "="):
        k = _stat_key(key)
        if k is None:
            continue
        v = _figure(check, value, source, tool, f"line {n} {name} {key}")
        if k in stats and stats[k] != v:
            raise LogParseError(source, tool, f"line {n}: {name} {key} given twice ({stats[k]!r}, {v!r})")
        stats[k] = v
    return stats


def parse_ais_bench(text: str, source: str = "<ais_bench>") -> AisBenchPerf:
    """The console summary of ais_bench / ais_infer / `ait benchmark`, or its `sumary.json` (sic). A
    run on several devices prints one summary per device and then `summary throughput:`; that sum
    is the figure, the per-device summaries are kept under `devices`."""
    tool = "ais_bench"
    stripped = text.strip()
    if stripped.startswith("{"):
        return _parse_ais_summary_json(stripped, source)
    multi = "summary throughput:" in text
    blocks: dict[str, dict[str, float]] = {}
    block_line: dict[str, int] = {}
    npu_runs: list[dict[str, float]] = []
    found: dict[str, Any] = {}
    found_at: dict[str, str] = {}
    devices: dict[str, dict[str, Any]] = {}
    for n, line in _lines(text):
        prefix, marker, rest = line.partition(" (ms):")
        name = _ais_block_name(prefix) if marker else ""
        if name:
            stats = _ais_stats(rest, name, n, source, tool)
            if name == "NPU_compute_time":
                npu_runs.append(stats)
            if name in blocks and blocks[name] != stats and not multi:
                raise LogParseError(source, tool, f"line {n}: a second {name} line that differs from line "
                                    f"{block_line[name]}", "a log holds one run; split the file")
            blocks.setdefault(name, stats)
            block_line.setdefault(name, n)
        if "throughput" not in line:
            continue
        where = f"line {n}"
        t = _AIS_THROUGHPUT.search(line) if "throughput 1000*" in line else None
        if t:
            b, ms, f = (_figure(validate.positive, v, source, tool, f"{where} {what}") for v, what in
                        ((t[1], "batchsize"), (t[2], "NPU_compute_time.mean"), (t[3], "throughput")))
            if abs(f - 1000.0 * b / ms) > THROUGHPUT_REL_TOL * f:
                raise LogParseError(source, tool, f"{where}: throughput {f!r} is not 1000*batchsize({b!r})/"
                                    f"NPU_compute_time.mean({ms!r})")
            if not multi:
                _set_once(found, "batch", b, source, tool, where, found_at)
                _set_once(found, "throughput", f, source, tool, where, found_at)
            continue
        early = _AIS_THROUGHPUT_EARLY.search(line) if "throughput (1000*" in line else None
        if early and not multi:
            _set_once(found, "throughput", _figure(validate.positive, early[1], source, tool, f"{where} throughput"),
                      source, tool, where, found_at)
        d = _AIS_DEVICE.search(line) if multi and "device_" in line else None
        if d:
            devices[d[1]] = {"throughput": _figure(validate.positive, d[2], source, tool,
                                                   f"{where} device_{d[1]} throughput")}
        s = _AIS_SUMMARY.search(line) if multi else None
        if s:
            _set_once(found, "throughput", _figure(validate.positive, s[1], source, tool, f"{where} summary throughput"),
                      source, tool, where, found_at)
    if not npu_runs:
        raise LogParseError(source, tool, "no 'NPU_compute_time (ms): min = ...' line",
                            "run ais_bench to completion; the summary is printed at the end")
    for i, npu in enumerate(npu_runs):
        where = f"NPU_compute_time summary {i + 1}"
        for key in ("min", "max", "mean", "median"):
            if key not in npu:
                raise LogParseError(source, tool, f"{where} has no '{key} = <number>'")
        _check_order(npu, source, tool, where)
    if "throughput" not in found:
        raise LogParseError(source, tool, "no 'throughput 1000*batchsize(B)/NPU_compute_time.mean(T): F' line")
    if multi:
        total = sum(d["throughput"] for d in devices.values())
        if not devices or abs(total - found["throughput"]) > THROUGHPUT_REL_TOL * found["throughput"]:
            raise LogParseError(source, tool, f"summary throughput {found['throughput']!r} is not the sum of the "
                                f"devices' throughputs ({total!r} from {len(devices)} device lines)")
        # which summary is which device's the log does not say (printed as the devices finish)
        blocks.pop("NPU_compute_time", None)
        blocks.update({f"NPU_compute_time#{i + 1}": npu for i, npu in enumerate(npu_runs)})
        return AisBenchPerf(source, {}, found["throughput"], None, blocks, devices)
    blocks.pop("NPU_compute_time")
    return AisBenchPerf(source, npu_runs[0], found["throughput"], found.get("batch"), blocks)


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
    others = {k: {kk: _figure(validate.non_negative, vv, source, tool, f"{k}.{kk}") for kk, vv in v.items()
                  if isinstance(vv, (int, float)) and not isinstance(vv, bool)}
              for k, v in data.items() if isinstance(v, dict) and k != "NPU_compute_time"}
    return AisBenchPerf(source, stats, throughput, batch, others)


# ---------------------------------------------------------------- Ascend profiling op_statistic
@dataclass
class OpStat(_Record):
    model_name: str | None        # CANN 7's "Model Name"; CANN 8 has none
    op_type: str
    core_type: str
    count: int
    total_time_us: float
    min_time_us: float
    avg_time_us: float
    max_time_us: float
    ratio_pct: float
    device_id: int | None = None  # CANN 8's "Device_id"


@dataclass
class OpStatistic(_Record):
    source: str
    ops: list[OpStat]     # the hotspot rule on these is srharness.perf.find_hotspots
    layout: str = "cann7"  # cann7 (Model Name first) | cann8 (Device_id first); fixtures/vendor_specs/op_statistic.yaml


# The columns every layout has; the first column names the layout (fixtures/vendor_specs/op_statistic.yaml:
# CANN 7 "Model Name" as the guides' tables, CANN 8 "Device_id" as Ascend/msprof's OpStatisticAssembler)
_OPSTAT_COLUMNS = {
    "op_type": "OP Type", "core_type": "Core Type", "count": "Count",
    "total_time_us": "Total Time(us)", "min_time_us": "Min Time(us)", "avg_time_us": "Avg Time(us)",
    "max_time_us": "Max Time(us)", "ratio_pct": "Ratio(%)",
}
_OPSTAT_LAYOUTS = {"Model Name": "cann7", "Device_id": "cann8"}
_OPSTAT_CHECKS = {"ratio_pct": validate.percentage}
_OPSTAT_COUNT = re.compile(r"\d{1,15}")   # the profiler writes counts as plain integers ("1e20" is not one)
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
    layouts = [c for c in _OPSTAT_LAYOUTS if c in header]
    missing = [c for c in _OPSTAT_COLUMNS.values() if c not in header]
    if missing or len(layouts) != 1:
        lacks = missing + ([] if len(layouts) == 1 else ["Model Name (CANN 7) or Device_id (CANN 8)"])
        raise LogParseError(source, tool, f"header lacks column(s) {', '.join(lacks)}" if lacks else
                            "header has both Model Name and Device_id",
                            "expected the op_statistic_*.csv written by the Ascend profiler")
    layout = _OPSTAT_LAYOUTS[layouts[0]]
    index = {k: header.index(c) for k, c in _OPSTAT_COLUMNS.items()}
    first = header.index(layouts[0])
    ops = []
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise LogParseError(source, tool, f"line {n} has {len(row)} cells, header has {len(header)}")
        cell = {k: row[i].strip() for k, i in index.items()}
        if not _OPSTAT_COUNT.fullmatch(cell["count"]) or int(cell["count"]) < 1:
            raise LogParseError(source, tool, f"line {n} Count is {validate._show(cell['count'])}: "
                                "not a whole number of calls >= 1")
        num = {k: _figure(_OPSTAT_CHECKS.get(k, validate.non_negative), cell[k], source, tool,
                          f"line {n} {_OPSTAT_COLUMNS[k]}")
               for k in index if k not in ("op_type", "core_type", "count")}
        if not cell["op_type"]:
            raise LogParseError(source, tool, f"line {n}: empty OP Type")
        if num["total_time_us"] == 0 and num["ratio_pct"] > 0:
            raise LogParseError(source, tool, f"line {n}: {cell['op_type']} has Ratio(%) {num['ratio_pct']!r} of "
                                "a Total Time(us) of 0: the row contradicts itself")
        _check_order({"min": num["min_time_us"], "mean": num["avg_time_us"], "max": num["max_time_us"]},
                     source, tool, f"line {n} times")
        key = row[first].strip()
        if layout == "cann8":
            if not _OPSTAT_COUNT.fullmatch(key):
                raise LogParseError(source, tool, f"line {n} Device_id is {validate._show(key)}: not a device number")
            extra = {"model_name": None, "device_id": int(key)}
        else:
            extra = {"model_name": key, "device_id": None}
        ops.append(OpStat(op_type=cell["op_type"], core_type=cell["core_type"], count=int(cell["count"]),
                          **num, **extra))
    if not ops:
        raise LogParseError(source, tool, "no op rows under the header")
    total = sum(o.ratio_pct for o in ops)
    if total > 100.0 + RATIO_SUM_SLACK_PCT:
        raise LogParseError(source, tool, f"the Ratio(%) column sums to {total:.2f}%, more than 100%")
    return OpStatistic(source, ops, layout)


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
