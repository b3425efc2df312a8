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
An `exceeds` or `none` rule takes no tolerance: one written in the same rule is an error (it would
be silently ignored); one inherited from `defaults.rule` is not used. A relative rule cannot judge
against a golden of 0 (refused when the file is read).

Hostile files: a golden file is read with a YAML loader that refuses duplicate keys, aliases
(an alias bomb expands to gigabytes), nesting deeper than MAX_DEPTH, more than MAX_NODES nodes,
numbers longer than MAX_NUMBER_CHARS digits and files over MAX_FILE_BYTES or not UTF-8. Model,
protocol, hardware and backend names are checked against the registries (names of published
setups that srharness itself does not run are listed in PUBLISHED_ONLY).

A golden file may name its weights instead of a model: `weights: {file: x4.safetensors, sha256: HEX}`
(or just the file; relative to the golden file). The checkpoint is read by the safe loader and its
model detected and registered (srharness.zoo through registry.register_checkpoint, as `srharness
eval --weights FILE` does); the figures belong to that model (`model` may be left out; given, it
must be the detected name) and are measured with those weights. A sha256 not the file's is refused.

A figure may name `compared_with: <id>` and `expected_verdict: pass|fail`: the guide compared this
figure with that reference and reached that verdict. The harness's tests replay every such pair
through the rule engine, so the engine is checked against the guides' own published decisions.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srharness.errors import InputError
from srharness.yamlio import MAX_DEPTH, MAX_NODES, MAX_NUMBER_CHARS, load_yaml  # noqa: F401 (bounds: one place)

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
FILE_KEYS = {"model", "weights", "defaults", "figures"}
WEIGHTS_KEYS = {"file": str, "sha256": str}
_SHA256 = re.compile(r"[0-9a-f]{64}")
DEFAULT_KEYS = {"scale", "rule", "dataset", "protocol", "hardware", "backend", "precision", "unit", "conditions"}
_EPS = 1e-12  # float noise only; tolerances are never widened
MAX_FILE_BYTES = 1 << 20      # the largest golden file today is ~20 KB
MAX_ABS_VALUE = 1e15          # no figure (dB, fps, params in M, ms) comes near; beyond it is a typo
_ID = re.compile(r"[^\s]{1,200}")
# Names in published figures for setups srharness does not run itself (the guide's own GPU box, a
# vendor's python runstream, a float bicubic baseline): allowed beside the registry names.
PUBLISHED_ONLY = {
    "hardware": {"gpu"},
    "backend": {"vacc", "vacc-vsx", "torch-npu", "torch-float-bicubic"},
    "protocol": {"vdsr-vacc-multisize"},
    "model": set(),
}


class GoldenError(InputError):
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
    weights: str | None = None   # the checkpoint a golden file names (`weights:`), resolved; its model detected

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


def read_yaml(path: Path):
    """The YAML document of a golden file, read with every bound (srharness.yamlio); GoldenError names the file."""
    return load_yaml(path, what="golden file", error=GoldenError, max_bytes=MAX_FILE_BYTES)


def _check_name(kind: str, name, where: str, path: Path) -> None:
    """A model/protocol/hardware/backend name must be registered (or a published-only setup)."""
    known = registered_names(kind)
    if known is None or name is None or name in known or name in PUBLISHED_ONLY.get(kind, ()):
        return
    close = difflib.get_close_matches(str(name), sorted(known | PUBLISHED_ONLY.get(kind, set())), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(known))}"
    raise GoldenError(f"{path}: {where}: unknown {kind} {name!r} ({hint}); register it or fix the name")


def registered_names(kind: str) -> set[str] | None:
    """The names in the registry of a kind, or None where that registry is not importable."""
    try:
        if kind == "model":
            from srharness.models import MODELS as reg
        elif kind == "protocol":
            from srharness.protocols import PROTOCOLS as reg
        elif kind == "hardware":
            from srharness.hardware import HARDWARE as reg
        elif kind == "backend":
            from srharness.backends import BACKENDS as reg
        else:
            return None
        return set(reg)
    except Exception:   # a registry still being set up elsewhere must not break reading goldens
        return None


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


def _parse_rule(where: str, raw: dict, path: Path, own: dict | None = None) -> Rule:
    _check_types(f"{where} rule", raw, RULE_KEYS, path)
    if raw.get("type") in ("exceeds", "none"):
        if own is not None and "tolerance" in own:
            raise GoldenError(f"{path}: {where}: an {raw['type']} rule takes no tolerance (it would be ignored); "
                              "remove it, or use a one-sided relative/absolute rule")
        raw = {k: v for k, v in raw.items() if k != "tolerance"}   # inherited from defaults: not used
    if "tolerance" in raw and not math.isfinite(raw["tolerance"]):
        raise GoldenError(f"{path}: {where}: tolerance {raw['tolerance']!r} is not a finite number")
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
    doc = read_yaml(path)
    if not isinstance(doc, dict):
        raise GoldenError(f"{path}: a golden file is a mapping with keys model, defaults, figures")
    unknown = set(doc) - FILE_KEYS
    if unknown:
        raise GoldenError(f"{path}: unknown top-level key(s) {', '.join(map(repr, sorted(unknown)))}; "
                          f"allowed: {', '.join(sorted(FILE_KEYS))}")
    model = doc.get("model")
    weights = None
    if doc.get("weights") is not None:
        model, weights = _weights_model(path, doc["weights"], model)
    if not isinstance(model, str):
        raise GoldenError(f"{path}: top-level 'model' (a registry name such as rdn) is missing")
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise GoldenError(f"{path}: 'defaults' must be a mapping")
    bad = set(defaults) - DEFAULT_KEYS
    if bad:
        raise GoldenError(f"{path}: defaults: unknown key(s) {', '.join(sorted(bad))}; allowed: {', '.join(sorted(DEFAULT_KEYS))}")
    _check_types("defaults", defaults, FIGURE_KEYS, path)
    if not isinstance(defaults.get("rule") or {}, dict):
        raise GoldenError(f"{path}: defaults: 'rule' must be a mapping such as "
                          "{type: relative, tolerance: 0.01, sides: one-sided}")
    d_rule = defaults.get("rule") or {}
    if d_rule.get("type") in ("exceeds", "none") and "tolerance" in d_rule:
        # the defaults' own rule says exceeds/none AND gives a tolerance: every figure would ignore it
        raise GoldenError(f"{path}: defaults: an {d_rule['type']} rule takes no tolerance (it would be ignored by "
                          "every figure); remove it, or use a one-sided relative/absolute rule")
    _check_name("model", model, "model", path)
    figures = doc.get("figures")
    if not isinstance(figures, list) or not figures:
        raise GoldenError(f"{path}: 'figures' must be a non-empty list")
    out: list[Golden] = []
    ids: dict[str, int] = {}
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
        own_rule = raw.get("rule") or {}
        rule = _parse_rule(where, {**(defaults.get("rule") or {}), **own_rule}, path, own=own_rule)
        conditions = {**(defaults.get("conditions") or {}), **(raw.get("conditions") or {})}
        value = merged["value"]
        if not (isinstance(value, (int, float)) and abs(value) <= MAX_ABS_VALUE and math.isfinite(float(value))):
            raise GoldenError(f"{path}: {where}: value {value!r} must be a finite number of at most {MAX_ABS_VALUE:g}")
        if rule.type == "relative" and value == 0:
            raise GoldenError(f"{path}: {where}: a relative rule cannot judge against a golden of 0; "
                              "use an absolute rule")
        if not _ID.fullmatch(raw["id"]):
            raise GoldenError(f"{path}: {where}: id {raw['id']!r} must be non-empty, without spaces")
        if raw["id"] in ids:
            raise GoldenError(f"{path}: {where}: duplicate golden id {raw['id']!r} (also figure #{ids[raw['id']]})")
        ids[raw["id"]] = i + 1
        if "scale" in merged and merged["scale"] is not None and merged["scale"] < 1:
            raise GoldenError(f"{path}: {where}: scale {merged['scale']} must be at least 1")
        for doc_key in PROVENANCE_KEYS:
            if doc_key in raw["source"] and not (isinstance(raw["source"][doc_key], str)
                                                 and raw["source"][doc_key].strip()):
                raise GoldenError(f"{path}: {where}: source {doc_key} must be a non-empty text")
        merged.setdefault("model", model)
        for kind in ("model", "protocol", "hardware", "backend"):
            _check_name(kind, merged.get(kind), where, path)
        out.append(Golden(rule=rule, conditions=conditions, file=str(path), weights=weights,
                          **{k: (float(v) if k == "value" else v) for k, v in merged.items()}))
    return out


def _weights_model(path: Path, raw, model) -> tuple[str, str]:
    """(model name, checkpoint path) of a golden file's `weights:` -- `FILE` or {file: FILE, sha256:
    HEX}, FILE relative to the golden file: a checkpoint with no model code, read by the safe loader
    and detected as `srharness eval --weights FILE` detects it (srharness.zoo, the srharness[zoo]
    extra). A given sha256 must be the file's; a given `model` must be the name it is detected as."""
    from srharness.errors import SrHarnessError
    from srharness.fileio import file_digest
    from srharness.registry import register_checkpoint
    if isinstance(raw, str):
        raw = {"file": raw}
    if not isinstance(raw, dict):
        raise GoldenError(f"{path}: weights: give a checkpoint file, or {{file: FILE, sha256: HEX}}, not {raw!r}")
    _check_types("weights", raw, WEIGHTS_KEYS, path)
    if not (raw.get("file") or "").strip():
        raise GoldenError(f"{path}: weights: 'file' (a checkpoint path relative to this golden file) is missing")
    weights = (path.parent / Path(raw["file"]).expanduser()).resolve()
    if not weights.is_file():
        raise GoldenError(f"{path}: weights: {weights} is not a file (the path is relative to the golden file)")
    sha = raw.get("sha256")
    if sha is not None:
        if not _SHA256.fullmatch(sha):
            raise GoldenError(f"{path}: weights: sha256 {sha!r} is not 64 lowercase hex digits")
        actual = file_digest(weights)
        if actual != sha:
            raise GoldenError(f"{path}: weights: {weights} has sha256 {actual}, the golden says {sha}: not the "
                              "checkpoint these figures were recorded with (restore it, or record the figures again)")
    try:
        spec, _ = register_checkpoint(weights, replace=False)
    except SrHarnessError as exc:        # hostile pickle, unknown architecture, no srharness[zoo]
        raise GoldenError(f"{path}: weights: {exc}") from None
    if model is not None and model != spec.name:
        raise GoldenError(f"{path}: model {model!r}: its weights {raw['file']} are detected as {spec.name!r}; "
                          f"write model: {spec.name} (or leave model out)")
    return spec.name, str(weights)


def check_file(path: str | Path) -> list[Golden]:
    """`load_file` plus its references: a `compared_with` must name a figure of this file or of a
    golden file beside it (the folder `load_goldens` would read)."""
    path = Path(path)
    goldens = load_file(path)
    ids = {g.id for g in goldens}
    dangling = [g for g in goldens if g.compared_with and g.compared_with not in ids]
    if dangling:
        for other in sorted(path.parent.glob("*.yaml")):
            if other.resolve() != path.resolve():
                try:
                    ids |= {g.id for g in load_file(other)}
                except GoldenError:
                    continue
        for g in dangling:
            if g.compared_with not in ids:
                close = difflib.get_close_matches(g.compared_with, sorted(ids), n=1, cutoff=0.5)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise GoldenError(f"{path}: {g.id}: compared_with: no golden with id {g.compared_with!r} in this "
                                  f"file or beside it{hint}")
    return goldens


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
