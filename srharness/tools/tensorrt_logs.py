"""Parser of TensorRT `trtexec`'s performance summary (beside srharness.tools.tensorrt, which builds
its command lines). Shared base: srharness.tools.parsing."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from srharness import validate
from srharness.tools.parsing import (
    _NUM,
    LogParseError,
    _check_order,
    _figure,
    _lines,
    _pairs,
    _Record,
    _stat_key,
)


# ---------------------------------------------------------------- TensorRT trtexec
@dataclass
class TrtexecPerf(_Record):
    source: str
    gpu_compute_ms: dict[str, float]     # min max mean median p<N>
    total_compute_s: float | None = None
    throughput_qps: float | None = None  # "Throughput: N qps" (7.x: "throughput: N qps"), when printed
    tensorrt_version: str | None = None  # from the banner "[TensorRT v8601]", when the log has it
    absent: dict[str, str] = field(default_factory=dict)   # figures the log does not give, with the reason

    def fps(self, batch: int = 1) -> float:
        """The guides' figure: 1000 / (mean latency / batch)."""
        fps = 1000.0 * batch / self.gpu_compute_ms["mean"]
        return _figure(validate.positive, fps, self.source, "trtexec", f"fps at batch {batch}")


_TRT_OLD_STAT = re.compile(rf"\]\s{{0,16}}(min|max|mean|median):\s{{0,16}}({_NUM})\s{{0,16}}ms")
_TRT_OLD_PCT = re.compile(rf"\]\s{{0,16}}percentile:\s{{0,16}}({_NUM})\s{{0,16}}ms at (\d{{1,3}})%")
_TRT_TOTAL = re.compile(rf"total compute time:\s{{0,16}}({_NUM})\s{{0,16}}s")
_TRT_NEW_STAT = re.compile(rf"({_NUM})\s{{0,16}}ms")
_TRT_SECONDS = re.compile(rf"({_NUM})\s{{0,16}}s")
_TRT_QPS = re.compile(rf"[Tt]hroughput:\s{{0,16}}({_NUM})\s{{0,16}}qps")   # 7.x prints it in lower case
_BANNER = re.compile(r"\[TensorRT v(\d{3,7})\]")


def parse_version(text: str) -> tuple[int, int, int] | None:
    """The version in trtexec's banner `&&&& RUNNING TensorRT.trtexec [TensorRT v8601]` (8601 =
    8.6.1; from 10.0 the number is major*10000 + minor*100 + patch: v101600 = 10.16.0)."""
    m = _BANNER.search(text)
    if not m:
        return None
    n = int(m[1])
    if n >= 100000:
        return n // 10000, n // 100 % 100, n % 100
    return n // 1000, n // 100 % 10, n % 100


def parse_trtexec(text: str, source: str = "<trtexec>") -> TrtexecPerf:
    """TensorRT 7's multi-line `GPU Compute` block (the guides' T4 runs) or TensorRT 8+'s one-line
    `GPU Compute Time: min = ... ms, ...` summary."""
    tool = "trtexec"
    lines = list(_lines(text))
    stats: dict[str, float] = {}
    total = qps = None
    absent: dict[str, str] = {}
    # TensorRT 7 blocks: every one is read, so a log of two runs is refused, not read as its first
    starts = [i for i, (_, l) in enumerate(lines) if l.rstrip().endswith("GPU Compute")
              and l.rstrip()[:-len("GPU Compute")].rstrip().endswith("]")]

    def put(key: str, value: str, n: int) -> None:
        v = _figure(validate.positive, value, source, tool, f"line {n} GPU Compute {key}")
        if key in stats and stats[key] != v:
            raise LogParseError(source, tool, f"line {n}: GPU Compute {key} given twice ({stats[key]!r}, {v!r})",
                                "a log holds one run; split the file")
        stats[key] = v

    for start in starts:
        for n, line in lines[start + 1:]:
            m = _TRT_OLD_STAT.search(line)
            p = _TRT_OLD_PCT.search(line)
            t = _TRT_TOTAL.search(line)
            if m:
                put(m[1], m[2], n)
            elif p:
                put(f"p{p[2]}", p[1], n)
            elif t:
                v = _figure(validate.positive, t[1], source, tool, f"line {n} total compute time")
                if total is not None and total != v:
                    raise LogParseError(source, tool, f"line {n}: a second total compute time {v!r} (first "
                                        f"{total!r})", "a log holds one run; split the file")
                total = v
                break
            else:
                break
    if not starts:
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
        if "hroughput:" in line:
            q = _TRT_QPS.search(line)
            if q:
                lower = q[0].startswith("t")   # TensorRT 7 prints "throughput:", 8+ "Throughput:"
                v = _figure(validate.non_negative if lower else validate.positive, q[1], source, tool,
                            f"line {n} Throughput")
                if v == 0:   # TensorRT 7 with --threads prints "throughput: 0 qps": no figure, not a zero
                    absent["throughput_qps"] = f"line {n} prints 0 qps (trtexec 7 with --threads)"
                    continue
                if qps is not None and qps != v:
                    raise LogParseError(source, tool, f"line {n}: a second Throughput {v!r} (first {qps!r})")
                qps = v
    version = parse_version(text[:4096]) if "[TensorRT v" in text[:4096] else None
    result = TrtexecPerf(source, stats, total, qps, ".".join(map(str, version)) if version else None, absent)
    result.fps(1)   # a mean so small that its fps overflows is refused here, not at report time
    return result


