"""Goldens: published figures with their provenance, and the rules that judge a measurement.

A golden file (`golden/<model>.yaml`) states the semantics of every figure in the file itself:

    model: rdn                     # registry name; a figure may override it with its own `model`
    defaults:                      # applied to every figure unless it says otherwise
      scale: 2
      rule: {type: relative, tolerance: 0.01, sides: one-sided, better: higher}
    figures:
      - id: rdn/x2/set5/psnr/repo
        metric: psnr
        unit: dB
        value: 38.18
        dataset: set5
        protocol: rdn-yjn870
        hardware: gpu
        backend: torch
        precision: fp32
        source: {document: seeds/002_eb539c0821845e8b.txt, section: "6.2", quote: "官方精度为PSNR：38.18"}

Rules (the figure's `rule` judges a measurement against the figure's `value`):
  relative  tolerance is a fraction of |value|.  one-sided: the measurement may be better by any
            amount and worse by at most tolerance (the guides' "within 1%"); two-sided: |diff| <=
            tolerance either way.
  absolute  the same with tolerance in the figure's unit (e.g. 0.05 dB).
  exceeds   the measurement must be strictly better than the value (perf floors: card fps > T4 fps).
  none      reference only: recorded for the report, never judged.
`better: lower` flips the direction (latencies).

A figure may name `compared_with: <id>` and `expected_verdict: pass|fail`: the guide compared this
figure with that reference and reached that verdict. The harness's tests replay every such pair
through the rule engine, so the engine is checked against the guides' own published decisions.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

RULE_TYPES = ("relative", "absolute", "exceeds", "none")
SIDES = ("one-sided", "two-sided")
BETTER = ("higher", "lower")
PROVENANCE_KEYS = ("document", "command")   # a source names one of these at least
FIGURE_KEYS = {
    "id": str, "model": str, "metric": str, "unit": str, "value": (int, float), "scale": int, "dataset": str,
    "protocol": str, "hardware": str, "backend": str, "precision": str, "image": str,
    "source": dict, "rule": dict, "conditions": dict, "notes": str, "compared_with": str,
    "expected_verdict": str,
}
REQUIRED_FIGURE_KEYS = ("id", "metric", "unit", "value", "source")
RULE_KEYS = {"type": str, "tolerance": (int, float), "sides": str, "better": str}
FILE_KEYS = {"model", "defaults", "figures"}
DEFAULT_KEYS = {"scale", "rule", "dataset", "protocol", "hardware", "backend", "precision", "unit", "conditions"}
_EPS = 1e-12  # float noise only; tolerances are never widened


class GoldenError(ValueError):
    """A golden file that does not follow the schema. The message names the file, the figure and
    the fix."""


@dataclass(frozen=True)
class RuleResult:
    passed: bool | None      # None for a `none` rule
    measured: float
    golden: float
    delta: float             # measured - golden
    relative: float | None   # delta / |golden|
    rule_text: str
    text: str                # one line for titles and logs


@dataclass(frozen=True)
class Rule:
    type: str = "relative"
    tolerance: float = 0.01
    sides: str = "one-sided"
    better: str = "higher"

    def describe(self, unit: str = "") -> str:
        sign = "-" if self.better == "higher" else "+"
        if self.type == "none":
            return "reference only (no rule)"
        if self.type == "exceeds":
            return ("> golden (strictly greater)" if self.better == "higher"
                    else "< golden (strictly lower)")
        amount = f"{self.tolerance * 100:g}%" if self.type == "relative" else f"{self.tolerance:g}{(' ' + unit) if unit else ''}"
        if self.sides == "two-sided":
            return f"within ±{amount} ({self.type}, two-sided)"
        op = ">=" if self.better == "higher" else "<="
        return f"{op} {sign}{amount} ({self.type}, one-sided: {self.better} is better)"

    def judge(self, measured: float, golden: float, unit: str = "") -> RuleResult:
        measured, golden = float(measured), float(golden)
        if math.isnan(measured):
            raise ValueError("measured value is NaN: a broken measurement, not a figure")
        delta = measured - golden
        relative = delta / abs(golden) if golden != 0 else None
        # Orient so that positive `gain` means better.
        sign = 1.0 if self.better == "higher" else -1.0
        if self.type == "none":
            passed = None
        elif self.type == "exceeds":
            passed = sign * delta > 0
        else:
            if self.type == "relative":
                if relative is None:
                    raise ValueError("a relative rule cannot judge against a golden of 0")
                amount = relative
            else:
                amount = delta
            if self.sides == "two-sided":
                passed = abs(amount) <= self.tolerance + _EPS
            else:
                passed = sign * amount >= -self.tolerance - _EPS
        rule_text = self.describe(unit)
        rel = f" ({relative * 100:+.2f}%)" if relative is not None else ""
        verdict = {True: "pass", False: "FAIL", None: "info"}[passed]
        text = f"{measured:.6g}{(' ' + unit) if unit else ''} vs golden {golden:.6g}{rel}, rule {rule_text}: {verdict}"
        return RuleResult(passed, measured, golden, delta, relative, rule_text, text)


@dataclass(frozen=True)
class Golden:
    id: str
    model: str
    metric: str
    unit: str
    value: float
    source: dict[str, Any]
    rule: Rule
    scale: int | None = None
    dataset: str | None = None
    protocol: str | None = None
    hardware: str | None = None
    backend: str | None = None
    precision: str | None = None
    image: str | None = None
    conditions: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    compared_with: str | None = None
    expected_verdict: str | None = None
    file: str = ""

    def judge(self, measured: float) -> RuleResult:
        return self.rule.judge(measured, self.value, self.unit)

    @property
    def provenance(self) -> str:
        s = self.source
        if "document" in s:
            where = f" {s['section']}" if s.get("section") else ""
            return f"{s['document']}{where}"
        return f"recorded by `{s['command']}`" + (f" on {s['recorded']}" if s.get("recorded") else "")


class GoldenSet:
    def __init__(self, goldens: list[Golden]):
        self._by_id = {g.id: g for g in goldens}

    def __iter__(self):
        return iter(self._by_id.values())

    def __len__(self):
        return len(self._by_id)

    def __contains__(self, gid: str) -> bool:
        return gid in self._by_id

    def get(self, gid: str) -> Golden:
        try:
            return self._by_id[gid]
        except KeyError:
            close = difflib.get_close_matches(gid, list(self._by_id), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(f"no golden with id {gid!r}{hint}") from None

    def select(self, **criteria: Any) -> list[Golden]:
        """Goldens whose attributes equal every criterion given (image=None selects means)."""
        out = []
        for g in self._by_id.values():
            if all(getattr(g, k) == v for k, v in criteria.items()):
                out.append(g)
        return out

    def pairs(self) -> list[tuple[Golden, Golden]]:
        """(figure, reference) for every figure the guides compared with a reference."""
        return [(g, self.get(g.compared_with)) for g in self if g.compared_with]


def _check_types(where: str, mapping: dict, schema: dict, path: Path) -> None:
    for key, value in mapping.items():
        if key not in schema:
            close = difflib.get_close_matches(str(key), list(schema), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(sorted(schema))})"
            raise GoldenError(f"{path}: {where}: unknown key {key!r}{hint}")
        expected = schema[key]
        if value is None and key not in REQUIRED_FIGURE_KEYS and key != "rule":
            continue  # explicit null unsets a default (e.g. no protocol for a perf figure)
        if value is None or isinstance(value, bool) or not isinstance(value, expected):
            names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
            raise GoldenError(f"{path}: {where}: {key!r} must be {names}, got {value!r}")


def _parse_rule(where: str, raw: dict, path: Path) -> Rule:
    _check_types(f"{where} rule", raw, RULE_KEYS, path)
    rule = Rule(**raw)
    if rule.type not in RULE_TYPES:
        raise GoldenError(f"{path}: {where}: rule type {rule.type!r} is not one of {', '.join(RULE_TYPES)}")
    if rule.sides not in SIDES:
        raise GoldenError(f"{path}: {where}: rule sides {rule.sides!r} is not one of {', '.join(SIDES)}")
    if rule.better not in BETTER:
        raise GoldenError(f"{path}: {where}: rule better {rule.better!r} is not one of {', '.join(BETTER)}")
    if rule.type in ("relative", "absolute"):
        if "tolerance" not in raw:
            raise GoldenError(f"{path}: {where}: a {rule.type} rule needs a tolerance "
                              "(relative: a fraction, 0.01 = 1%; absolute: in the figure's unit)")
        if rule.tolerance < 0 or (rule.type == "relative" and rule.tolerance >= 1):
            raise GoldenError(f"{path}: {where}: tolerance {rule.tolerance} out of range "
                              "(relative tolerances are fractions: write 0.01 for 1%)")
    return rule


def load_file(path: str | Path) -> list[Golden]:
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GoldenError(f"{path}: no such golden file") from None
    except yaml.YAMLError as exc:
        raise GoldenError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise GoldenError(f"{path}: a golden file is a mapping with keys model, defaults, figures")
    unknown = set(doc) - FILE_KEYS
    if unknown:
        raise GoldenError(f"{path}: unknown top-level key(s) {', '.join(map(repr, sorted(unknown)))}; "
                          f"allowed: {', '.join(sorted(FILE_KEYS))}")
    model = doc.get("model")
    if not isinstance(model, str):
        raise GoldenError(f"{path}: top-level 'model' (a registry name such as rdn) is missing")
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise GoldenError(f"{path}: 'defaults' must be a mapping")
    bad = set(defaults) - DEFAULT_KEYS
    if bad:
        raise GoldenError(f"{path}: defaults: unknown key(s) {', '.join(sorted(bad))}; allowed: {', '.join(sorted(DEFAULT_KEYS))}")
    figures = doc.get("figures")
    if not isinstance(figures, list) or not figures:
        raise GoldenError(f"{path}: 'figures' must be a non-empty list")
    out: list[Golden] = []
    for i, raw in enumerate(figures):
        where = f"figure #{i + 1}" + (f" ({raw.get('id')})" if isinstance(raw, dict) and raw.get("id") else "")
        if not isinstance(raw, dict):
            raise GoldenError(f"{path}: {where}: each figure is a mapping")
        _check_types(where, raw, FIGURE_KEYS, path)
        missing = [k for k in REQUIRED_FIGURE_KEYS if k not in raw]
        if missing:
            raise GoldenError(f"{path}: {where}: missing required key(s) {', '.join(missing)}")
        if not any(k in raw["source"] for k in PROVENANCE_KEYS):
            raise GoldenError(f"{path}: {where}: source must name a 'document' (published figure) "
                              "or a 'command' (recorded value)")
        if raw.get("expected_verdict") not in (None, "pass", "fail"):
            raise GoldenError(f"{path}: {where}: expected_verdict must be pass or fail")
        if bool(raw.get("expected_verdict")) != bool(raw.get("compared_with")):
            raise GoldenError(f"{path}: {where}: compared_with and expected_verdict go together")
        merged = {k: v for k, v in defaults.items() if k not in ("rule", "conditions")}
        merged.update({k: v for k, v in raw.items() if k not in ("rule", "conditions")})
        rule = _parse_rule(where, {**(defaults.get("rule") or {}), **(raw.get("rule") or {})}, path)
        conditions = {**(defaults.get("conditions") or {}), **(raw.get("conditions") or {})}
        if not math.isfinite(float(merged["value"])):
            raise GoldenError(f"{path}: {where}: value must be a finite number")
        merged.setdefault("model", model)
        out.append(Golden(rule=rule, conditions=conditions, file=str(path),
                          **{k: (float(v) if k == "value" else v) for k, v in merged.items()}))
    return out


def load_goldens(golden_dir: str | Path) -> GoldenSet:
    golden_dir = Path(golden_dir)
    files = sorted(golden_dir.glob("*.yaml"))
    if not files:
        raise GoldenError(f"{golden_dir}: no golden *.yaml files (set --sr-golden-dir / SRHARNESS_GOLDEN_DIR)")
    goldens: list[Golden] = []
    seen: dict[str, str] = {}
    for f in files:
        for g in load_file(f):
            if g.id in seen:
                raise GoldenError(f"{f}: duplicate golden id {g.id!r} (also in {seen[g.id]})")
            seen[g.id] = str(f)
            goldens.append(g)
    gs = GoldenSet(goldens)
    for g in gs:
        if g.compared_with and g.compared_with not in gs:
            try:
                gs.get(g.compared_with)
            except KeyError as exc:
                raise GoldenError(f"{g.file}: {g.id}: compared_with: {exc.args[0]}") from None
    return gs
