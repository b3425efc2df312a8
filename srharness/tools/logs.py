"""Parsers for the vendor tools' outputs: Ascend `benchmark` perf files, `ais_bench`, VastAI
`vamp`, TensorRT `trtexec`, Ascend profiling `op_statistic_*.csv` and `npu-smi info`.

Each parser takes the text and the name of where it came from and returns a dataclass. A log
that lacks a figure the parser needs raises `LogParseError` naming the source and what was
missing: a figure is never defaulted to zero. The exact samples are in fixtures/logs/.

    parse_file("vamp", "run.log")        # -> VampPerf
    PARSERS["trtexec"](text, "stdout")   # -> TrtexecPerf
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


class LogParseError(ValueError):
    """A tool log that does not hold what its parser needs."""

    def __init__(self, source: str, tool: str, missing: str, hint: str = ""):
        self.source, self.tool, self.missing = source, tool, missing
        msg = f"{source}: not a usable {tool} log: {missing}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)


def _number(value: str, source: str, tool: str, what: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise LogParseError(source, tool, f"{what} is {value!r}, not a number") from None
    if not math.isfinite(x):
        raise LogParseError(source, tool, f"{what} is {value!r}, not a finite number")
    return x


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


_BENCH_STAGE = re.compile(r"^\s*\[(?P<stage>[^\]]+)\]\s*(?P<rest>.*)$")
_BENCH_PAIR = re.compile(rf"([A-Za-z][A-Za-z ]*?)\s*:\s*({_NUM})")


def parse_benchmark(text: str, source: str = "<benchmark>") -> BenchmarkPerf:
    stages: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        m = _BENCH_STAGE.match(line)
        if not m:
            continue
        pairs = {k.strip(): _number(v, source, "benchmark", f"[{m['stage']}] {k.strip()}")
                 for k, v in _BENCH_PAIR.findall(m["rest"])}
        if pairs:
            stages[m["stage"].strip()] = pairs

    def need(stage: str, key: str) -> float:
        if stage not in stages:
            raise LogParseError(source, "benchmark", f"no [{stage}] line",
                                "expected the perf_vision_batchsize_*_device_*.txt file the tool writes under result/")
        if key not in stages[stage]:
            raise LogParseError(source, "benchmark", f"[{stage}] line has no '{key}: <number>'")
        return stages[stage][key]

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


_AIS_BLOCK = re.compile(r"(?P<name>[A-Za-z0-9_]+) \(ms\):\s*(?P<rest>.*)$")
_AIS_STAT = re.compile(rf"(min|max|mean|median|percentile\((\d+)%\))\s*=\s*({_NUM})")
_AIS_THROUGHPUT = re.compile(
    rf"throughput 1000\*batchsize\.mean\(({_NUM})\)/NPU_compute_time\.mean\(({_NUM})\):\s*({_NUM})")


def _ais_stats(rest: str) -> dict[str, float]:
    out = {}
    for key, pct, value in _AIS_STAT.findall(rest):
        out[f"p{pct}" if pct else key] = float(value)
    return out


def parse_ais_bench(text: str, source: str = "<ais_bench>") -> AisBenchPerf:
    """The console summary of ais_bench / `ait benchmark`, or its `sumary.json` (sic)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return _parse_ais_summary_json(stripped, source)
    blocks: dict[str, dict[str, float]] = {}
    throughput = batch = None
    for line in text.splitlines():
        m = _AIS_BLOCK.search(line)
        if m:
            blocks[m["name"]] = _ais_stats(m["rest"])
        t = _AIS_THROUGHPUT.search(line)
        if t:
            batch, throughput = float(t[1]), float(t[3])
    if "NPU_compute_time" not in blocks:
        raise LogParseError(source, "ais_bench", "no 'NPU_compute_time (ms): min = ...' line",
                            "run ais_bench to completion; the summary is printed at the end")
    npu = blocks.pop("NPU_compute_time")
    for key in ("min", "max", "mean", "median"):
        if key not in npu:
            raise LogParseError(source, "ais_bench", f"NPU_compute_time line has no '{key} = <number>'")
    if throughput is None:
        raise LogParseError(source, "ais_bench", "no 'throughput 1000*batchsize.mean(B)/NPU_compute_time.mean(T): F' line")
    return AisBenchPerf(source, npu, throughput, batch, blocks)


def _parse_ais_summary_json(text: str, source: str) -> AisBenchPerf:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LogParseError(source, "ais_bench sumary.json", f"invalid JSON ({exc})") from None
    npu = data.get("NPU_compute_time") if isinstance(data, dict) else None
    if not isinstance(npu, dict) or "mean" not in npu:
        raise LogParseError(source, "ais_bench sumary.json", "no NPU_compute_time.mean")
    stats = {("p" + k[len("percentile("):-2] if k.startswith("percentile(") else k): float(v)
             for k, v in npu.items() if isinstance(v, (int, float))}
    if "throughput" not in data:
        raise LogParseError(source, "ais_bench sumary.json", "no throughput")
    batch = float(data.get("batchsize", 1))
    others = {k: {kk: float(vv) for kk, vv in v.items() if isinstance(vv, (int, float))}
              for k, v in data.items() if isinstance(v, dict) and k != "NPU_compute_time"}
    return AisBenchPerf(source, stats, float(data["throughput"]), batch, others)


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


_VAMP_SCALARS = {
    # "batch szie" is the tool's own typo in one version (seed 000); both spellings are read.
    "batch": re.compile(r"batch s(?:ize|zie)\s*:\s*(\d+)"),
    "instances": re.compile(r"number of instances in each device\s*:\s*(\d+)"),
    "ai_utilize_pct": re.compile(rf"ai utilize \(%\)\s*:\s*({_NUM})"),
    "temperature_c": re.compile(rf"temperature \(°?C\)\s*:\s*({_NUM})"),
    "card_power_w": re.compile(rf"card power \(W\)\s*:\s*({_NUM})"),
    "die_memory_mb": re.compile(rf"die memory used \(MB\)\s*:\s*({_NUM})"),
    "throughput_qps": re.compile(rf"throughput \(qps\)\s*:\s*({_NUM})"),
}
_VAMP_LAT = re.compile(rf"^\s*(avg|min|max|p\d+) latency\s*:\s*({_NUM})\s*$")
_VAMP_KEYS = ("avg", "min", "max", "p50", "p90", "p95", "p99")


def parse_vamp(text: str, source: str = "<vamp>") -> VampPerf:
    found: dict[str, Any] = {}
    for line in text.splitlines():
        for key, rx in _VAMP_SCALARS.items():
            m = rx.search(line)
            if m and key not in found:
                found[key] = _number(m[1], source, "vamp", key)
    blocks: dict[str, dict[str, float]] = {}
    current = None
    for line in text.splitlines():
        if re.search(r"e2e latency \(us\)\s*:", line):
            current = blocks.setdefault("e2e", {})
        elif re.search(r"model latency \(us\)\s*:", line):
            current = blocks.setdefault("model", {})
        elif current is not None:
            m = _VAMP_LAT.match(line)
            if m:
                current[m[1]] = _number(m[2], source, "vamp", f"{m[1]} latency")
            elif line.strip():
                current = None
    if "throughput_qps" not in found:
        raise LogParseError(source, "vamp", "no 'throughput (qps): <number>' line",
                            "vamp prints it when the run completes; check the run did not abort")
    for name in ("e2e", "model"):
        if name not in blocks:
            raise LogParseError(source, "vamp", f"no '{name} latency (us):' block")
        missing = [k for k in _VAMP_KEYS if k not in blocks[name]]
        if missing:
            raise LogParseError(source, "vamp", f"{name} latency block lacks {', '.join(missing)}")
    devices = re.search(r"devices\s*:\s*\[([\d,\s]*)\]", text)
    shape = re.search(r"model input shape 0\s*:\s*\[([\d,\s]+)\]", text)
    return VampPerf(
        source=source,
        throughput_qps=found["throughput_qps"],
        e2e_latency_us=blocks["e2e"], model_latency_us=blocks["model"],
        instances=int(found["instances"]) if "instances" in found else None,
        batch=int(found["batch"]) if "batch" in found else None,
        devices=[int(d) for d in devices[1].split(",") if d.strip()] if devices else [],
        ai_utilize_pct=found.get("ai_utilize_pct"), temperature_c=found.get("temperature_c"),
        card_power_w=found.get("card_power_w"), die_memory_mb=found.get("die_memory_mb"),
        input_shape=[int(d) for d in shape[1].split(",")] if shape else None,
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
        return 1000.0 * batch / self.gpu_compute_ms["mean"]


_TRT_OLD_STAT = re.compile(rf"\]\s*(min|max|mean|median):\s*({_NUM})\s*ms")
_TRT_OLD_PCT = re.compile(rf"\]\s*percentile:\s*({_NUM})\s*ms at (\d+)%")
_TRT_TOTAL = re.compile(rf"total compute time:\s*({_NUM})\s*s")
_TRT_NEW = re.compile(r"GPU Compute Time:\s*(.*)$")
_TRT_NEW_STAT = re.compile(rf"(min|max|mean|median|percentile\((\d+)%\))\s*=\s*({_NUM})\s*ms")
_TRT_QPS = re.compile(rf"Throughput:\s*({_NUM})\s*qps")


def parse_trtexec(text: str, source: str = "<trtexec>") -> TrtexecPerf:
    """TensorRT 7's multi-line `GPU Compute` block (the guides' T4 runs) or TensorRT 8+'s one-line
    `GPU Compute Time: min = ... ms, ...` summary."""
    lines = text.splitlines()
    stats: dict[str, float] = {}
    total = None
    start = next((i for i, l in enumerate(lines) if re.search(r"\]\s*GPU Compute\s*$", l)), None)
    if start is not None:
        for line in lines[start + 1:]:
            m = _TRT_OLD_STAT.search(line)
            p = _TRT_OLD_PCT.search(line)
            t = _TRT_TOTAL.search(line)
            if m:
                stats[m[1]] = _number(m[2], source, "trtexec", m[1])
            elif p:
                stats[f"p{p[2]}"] = _number(p[1], source, "trtexec", f"percentile {p[2]}%")
            elif t:
                total = float(t[1])
                break
            else:
                break
    else:
        for line in lines:
            n = _TRT_NEW.search(line)
            if n:
                for key, pct, value in _TRT_NEW_STAT.findall(n[1]):
                    stats[f"p{pct}" if pct else key] = float(value)
                t = _TRT_TOTAL.search(n[1])
                total = float(t[1]) if t else None
    if not stats:
        raise LogParseError(source, "trtexec", "no 'GPU Compute' block",
                            "trtexec prints it in its performance summary; the run may have failed before")
    for key in ("min", "max", "mean", "median"):
        if key not in stats:
            raise LogParseError(source, "trtexec", f"GPU Compute block has no '{key}' line")
    if stats["mean"] <= 0:
        raise LogParseError(source, "trtexec", f"GPU Compute mean is {stats['mean']} ms, not positive")
    q = _TRT_QPS.search(text)
    return TrtexecPerf(source, stats, total, float(q[1]) if q else None)


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


def parse_op_statistic(text: str, source: str = "<op_statistic>") -> OpStatistic:
    rows = list(csv.reader(io.StringIO(text.strip())))
    if not rows:
        raise LogParseError(source, "op_statistic", "the file is empty")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in _OPSTAT_COLUMNS.values() if c not in header]
    if missing:
        raise LogParseError(source, "op_statistic", f"header lacks column(s) {', '.join(missing)}",
                            "expected the op_statistic_*.csv written by the Ascend profiler")
    index = {k: header.index(c) for k, c in _OPSTAT_COLUMNS.items()}
    ops = []
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise LogParseError(source, "op_statistic", f"line {n} has {len(row)} cells, header has {len(header)}")
        cell = {k: row[i].strip() for k, i in index.items()}
        num = {k: _number(cell[k], source, "op_statistic", f"line {n} {_OPSTAT_COLUMNS[k]}")
               for k in index if k not in ("model_name", "op_type", "core_type")}
        ops.append(OpStat(cell["model_name"], cell["op_type"], cell["core_type"], int(num.pop("count")), **num))
    if not ops:
        raise LogParseError(source, "op_statistic", "no op rows under the header")
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
_SMI_NPU_ROW = re.compile(r"^\|\s*(\d+)\s+([A-Za-z0-9]+)\s*\|\s*([A-Za-z]+)\s*\|")


def parse_npu_smi(text: str, source: str = "<npu-smi info>") -> NpuSmiInfo:
    version = re.search(r"Version:\s*([\w.\-]+)", text)
    names = []
    for line in text.splitlines():
        m = _SMI_NPU_ROW.match(line.strip())
        if m:
            names.append(m[2])
    if not names:
        raise LogParseError(source, "npu-smi info", "no NPU row with a chip name (e.g. '| 0  310P3 | OK |')",
                            "is the driver loaded? `npu-smi info` lists one row per NPU")
    return NpuSmiInfo(source, version[1] if version else None, names)


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
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise LogParseError(str(path), tool, f"cannot read the file ({exc.strerror})") from None
    return PARSERS[tool](text, str(path))
