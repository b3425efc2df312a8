"""Parser of VastAI `vamp`'s console summary (beside srharness.tools.vacc, which builds its command
lines and files). Shared base: srharness.tools.parsing."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from srharness import validate
from srharness.tools.parsing import (
    LogParseError,
    _check_order,
    _figure,
    _lines,
    _Record,
    _set_once,
)


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
    samples: int | None = None            # vamp 2025: "samples: 1024"
    forward_time_s: float | None = None   # vamp 2025: "forwad time (s): 8.23685" (sic)
    # figures this vamp version does not print, with the reason: never judged, never a refusal
    absent: dict[str, str] = field(default_factory=dict)


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
    "samples": ("samples", lambda v, w: validate.count(v, w, minimum=1)),
    "forwad time (s)": ("forward_time_s", validate.positive),     # the tool's own spelling (2025)
    "forward time (s)": ("forward_time_s", validate.positive),
}
_VAMP_LAT_KEY = re.compile(r"avg|min|max|p\d{1,3}")
_VAMP_KEYS = ("avg", "min", "max", "p50", "p90", "p95", "p99")
_VAMP_REQUIRED = ("avg",)   # vamp 2025 prints avg/min/max only (VastModelZOO docs/doc_vamp.md, READMEs)
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
        label = label.strip()
        if label.startswith("***"):   # 2024+ banner "*** number of instances in each device: 3 ****"
            value = value.strip().rstrip("*")
        label = label.lstrip("-*").strip().lower()
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
    absent: dict[str, str] = {}
    for name in ("e2e", "model"):
        if name not in blocks:
            raise LogParseError(source, tool, f"no '{name} latency (us):' block")
        missing = [k for k in _VAMP_REQUIRED if k not in blocks[name]]
        if missing:
            raise LogParseError(source, tool, f"{name} latency block lacks {', '.join(missing)}")
    # percentiles are all or none: vamp 2.x prints p50..p99 in both blocks, vamp 2025 in neither; a log
    # with some of them was cut short
    pcts = [k for k in _VAMP_KEYS if k.startswith("p")]
    if any(k in blocks[b] for b in blocks for k in pcts):
        for name in ("e2e", "model"):
            missing = [k for k in pcts if k not in blocks[name]]
            if missing:
                raise LogParseError(source, tool, f"{name} latency block lacks {', '.join(missing)}",
                                    "the other block has them: the log was cut short")
    for name in ("e2e", "model"):
        for k in _VAMP_KEYS:
            if k not in blocks[name]:
                absent[f"{name} {k} latency"] = "not printed by this vamp version (vamp 2025 prints avg/min/max)"
    for name in ("e2e", "model"):
        _check_order(blocks[name], source, tool, f"{name} latency block", keys=("avg", "p50", "p90", "p95", "p99"))
    return VampPerf(
        source=source,
        throughput_qps=found["throughput_qps"],
        e2e_latency_us=blocks["e2e"], model_latency_us=blocks["model"],
        instances=found.get("instances"), batch=found.get("batch"), devices=devices,
        ai_utilize_pct=found.get("ai_utilize_pct"), temperature_c=found.get("temperature_c"),
        card_power_w=found.get("card_power_w"), die_memory_mb=found.get("die_memory_mb"),
        input_shape=shape, samples=found.get("samples"), forward_time_s=found.get("forward_time_s"),
        absent=absent,
    )


