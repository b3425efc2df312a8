"""The vendor-log parsers by tool name, and `parse_file`. Each vendor's parsers live beside its tool
module (ascend_logs, vacc_logs, tensorrt_logs) on one shared base (srharness.tools.parsing).

    parse_file("vamp", "run.log")        # -> VampPerf
    PARSERS["trtexec"](text, "stdout")   # -> TrtexecPerf
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from srharness.tools.ascend_logs import (  # noqa: F401
    AisBenchPerf,
    BenchmarkPerf,
    NpuSmiInfo,
    OpStat,
    OpStatistic,
    parse_ais_bench,
    parse_benchmark,
    parse_npu_smi,
    parse_op_statistic,
)
from srharness.tools.parsing import (  # noqa: F401
    MAX_LINE_CHARS,
    MAX_LOG_BYTES,
    LogParseError,
    _Record,
    read_log,
)
from srharness.tools.tensorrt_logs import TrtexecPerf, parse_trtexec  # noqa: F401
from srharness.tools.vacc_logs import VampPerf, parse_vamp  # noqa: F401

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
    return PARSERS[tool](read_log(path, tool), str(path))
