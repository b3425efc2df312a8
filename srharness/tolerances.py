"""srharness's own floors and tolerances as data (srharness/tolerances.yaml): each with what it
measures, its rule (`floor`: measured >= value; `range`: low <= measured <= high), its values and
its rationale. The published figures and their rules are golden/*.yaml (srharness.golden).

    floor = tolerance("agreement").floor("fp16")        # 40.0
    tolerance("agreement").describe("fp16")             # ">= 40 dB (agreement floor: ...)"
    tolerance("agreement").measure(outs, refs, 1.0)     # the floor's own statistic (pooled_psnr)

A floor that compares two models' outputs names its statistic (`statistic:`, one of
srharness.statistics.STATISTICS): the figure judged against it is computed by that one function.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from srharness import resources, statistics
from srharness.errors import InputError

TOLERANCES_FILE = resources.tolerances_file()
RULES = ("floor", "range")
KEYS = {"what", "rule", "unit", "values", "rationale", "used_by", "statistic"}


class ToleranceError(InputError):
    """A malformed tolerances file or an unknown name; the message names the file and key."""


@dataclass(frozen=True)
class Tolerance:
    name: str
    what: str
    rule: str
    unit: str
    values: dict[str, float]
    rationale: str
    statistic: str | None = None     # srharness.statistics name of the figure this bounds

    def measure(self, outs, refs, data_range: float) -> float:
        """The figure this tolerance bounds, by its named statistic."""
        if self.statistic is None:
            raise ToleranceError(f"{TOLERANCES_FILE}: {self.name} names no statistic")
        return statistics.statistic(self.statistic)(outs, refs, data_range)

    def floor(self, key: str) -> float:
        if self.rule != "floor":
            raise ToleranceError(f"{TOLERANCES_FILE}: {self.name} is a {self.rule}, not a floor")
        try:
            return self.values[key]
        except KeyError:
            raise ToleranceError(f"{TOLERANCES_FILE}: {self.name} has no value for {key!r} "
                                 f"(has {', '.join(self.values)})") from None

    def describe(self, key: str) -> str:
        return f">= {self.floor(key):g} {self.unit} ({self.name} floor, srharness/tolerances.yaml)"


@lru_cache(maxsize=None)
def load_tolerances(path: str | Path = TOLERANCES_FILE) -> dict[str, Tolerance]:
    path = Path(path)
    from srharness.yamlio import load_yaml
    doc = load_yaml(path, what="tolerances file", error=ToleranceError)
    if not isinstance(doc, dict):
        raise ToleranceError(f"{path}: a mapping of tolerance name -> {{what, rule, unit, values, rationale}}")
    out = {}
    for name, raw in doc.items():
        if not isinstance(raw, dict) or set(raw) - KEYS or not {"rule", "values", "rationale"} <= set(raw):
            raise ToleranceError(f"{path}: {name}: needs rule, values, rationale "
                                 f"(allowed keys: {', '.join(sorted(KEYS))})")
        if raw["rule"] not in RULES:
            raise ToleranceError(f"{path}: {name}: rule {raw['rule']!r} is not one of {', '.join(RULES)}")
        values = raw["values"]
        if not isinstance(values, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                   for v in values.values()):
            raise ToleranceError(f"{path}: {name}: values must map names to numbers")
        if raw["rule"] == "range" and not (set(values) == {"low", "high"} and values["low"] < values["high"]):
            raise ToleranceError(f"{path}: {name}: a range has values {{low, high}} with low < high")
        stat = raw.get("statistic")
        if stat is not None and stat not in statistics.STATISTICS:
            raise ToleranceError(f"{path}: {name}: statistic {stat!r} is not one of "
                                 f"{', '.join(statistics.STATISTICS)} (srharness/statistics.py)")
        out[name] = Tolerance(name, str(raw.get("what", "")), raw["rule"], str(raw.get("unit", "")),
                              {k: float(v) for k, v in values.items()}, str(raw["rationale"]), stat)
    return out


def tolerance(name: str) -> Tolerance:
    found = load_tolerances()
    if name not in found:
        raise ToleranceError(f"{TOLERANCES_FILE}: no tolerance {name!r} (has {', '.join(found)})")
    return found[name]
