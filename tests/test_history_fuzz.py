"""Property-based fuzz of the history/summary reader (srharness.report.history): summary files that are
mutations of a real one (a field dropped, retyped or replaced by a hostile value: NaN, +-inf, 1e999,
text, lists, mappings, deep nesting) and arbitrary JSON.

Properties:
- `load_summary` returns a summary or raises CompareError; nothing else escapes;
- comparing a loaded summary with a good baseline raises nothing but CompareError;
- no non-finite figure is accepted: every figure of the new run that is NaN or infinite is a
  regression of the gate, whatever the rule.
"""
from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from srharness.report.history import CompareError, compare_summaries, load_summary, parse_compare_rules, regressions

EXAMPLES = int(os.environ.get("SRHARNESS_FUZZ_EXAMPLES", "300"))
FIELDS = ("model", "check", "metric", "measured", "hardware", "backend", "precision", "scale", "protocol", "dataset",
          "image", "unit", "passed", "conditions", "golden", "not_judged", "expected")


def verdict(metric="psnr", measured=33.6, check="accuracy"):
    return {"model": "vdsr", "check": check, "metric": metric, "measured": measured, "hardware": "cpu",
            "backend": "torch", "precision": "fp32", "scale": 2, "protocol": "benchmark", "dataset": "set5",
            "unit": "dB" if metric == "psnr" else "fps", "passed": True}


def summary(verdicts):
    return {"schema": "srharness-summary/2", "identity": {"host": "h", "hardware_key": "cpu",
                                                          "timestamp": "2026-01-01T00:00:00Z"}, "verdicts": verdicts}


BASE = summary([verdict(), verdict("fps", 100.0, "perf"), verdict("ssim", 0.95)])
HOSTILE = st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 5e-324, 0, -0.0, True, None,
                           "abc", "", "nan", [], {}, [1.0], {"a": 1}, 10 ** 40, -1])
JSONISH = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=True, allow_infinity=True) | st.integers()
                       | st.text(max_size=8), lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=20)


def fresh(value):
    """A copy: sampled_from hands out the same {} / [] object each time, and a file holds no shared objects."""
    return copy.deepcopy(value)


@st.composite
def mutated(draw):
    doc = json.loads(json.dumps(BASE))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(["verdict", "top", "identity"]))
        if where == "verdict" and isinstance(doc.get("verdicts"), list) and doc["verdicts"]:
            v = doc["verdicts"][draw(st.integers(0, len(doc["verdicts"]) - 1))]
            if not isinstance(v, dict):
                continue
            key = draw(st.sampled_from(FIELDS))
            if draw(st.booleans()):
                v.pop(key, None)
            else:
                v[key] = fresh(draw(HOSTILE | JSONISH))
        elif where == "top":
            doc[draw(st.sampled_from(["verdicts", "identity", "schema"]))] = fresh(draw(HOSTILE | JSONISH))
        else:
            if isinstance(doc.get("identity"), dict):
                doc["identity"][draw(st.sampled_from(["host", "timestamp", "hardware_key"]))] = fresh(draw(HOSTILE | JSONISH))
    return doc


def check_reader(doc, tmp: Path, raw: str | None = None) -> None:
    path = tmp / "new.json"
    path.write_text(raw if raw is not None else json.dumps(doc), encoding="utf-8")
    try:
        new = load_summary(path)
    except CompareError as exc:
        assert str(path) in str(exc)
        return
    for rules in ("", "psnr:0.05dB,fps:10%"):
        try:
            rows = compare_summaries(BASE, new, parse_compare_rules(rules) if rules else [])
        except CompareError:
            continue
        flagged = {r["figure"] for r in regressions(rows)}
        for r in rows:
            if r["new"] is not None and not math.isfinite(r["new"]):
                assert r["figure"] in flagged, f"non-finite figure accepted: {r}"


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow])
@given(doc=mutated())
def test_mutated_summaries_are_read_or_refused(doc, tmp_path):
    check_reader(doc, tmp_path)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=JSONISH)
def test_arbitrary_json_is_refused_cleanly(doc, tmp_path):
    check_reader(doc, tmp_path)


@settings(max_examples=EXAMPLES // 3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200) | st.integers(0, 200_000).map(lambda n: "[" * n))
def test_arbitrary_text_is_refused_cleanly(text, tmp_path):
    check_reader(None, tmp_path, raw=text)
