"""The run summary as pure functions over a list of `Verdict`s: the conformance matrix (model x
hardware x check), the coverage account (each selected golden figure not judged, and why), the
stable figure key that history and `srharness compare` match figures by, and the summary document.

Nothing here reads pytest state: `srharness merge` (farm shards) builds the same matrix from the
verdicts of several summaries.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Sequence

from srharness.records import Verdict

SUMMARY_SCHEMA = "srharness-summary/2"
VERDICTS = ("pass", "fail", "xpass", "expected-fail", "not-judged", "info")
# A cell shows the most telling state among its figures: a failure first, then a changed finding
# (an expected failure that passed: XPASS), then a known failure the guide itself shows, then a pass.
# Only when nothing in the cell was judged does it read "not-judged"; figures with no rule read "info".
CELL_PRECEDENCE = ("fail", "xpass", "expected-fail", "pass", "not-judged", "info")
CHECK_KINDS = ("export", "accuracy", "perf", "training")
HARDWARE_ORDER = ("cpu", "cuda", "ascend", "vacc")
FIGURE_KEY_FIELDS = ("model", "check", "metric", "hardware", "backend", "precision", "scale", "protocol",
                     "dataset", "image")


def figure_key(v: Verdict | dict[str, Any]) -> str:
    """Stable identity of a figure across runs: "vdsr|accuracy|psnr|cpu|torch|fp32|x2|benchmark|set5|-"."""
    d = v if isinstance(v, dict) else v.to_dict()
    parts = []
    for name in FIGURE_KEY_FIELDS:
        value = d.get(name)
        parts.append(("x" + str(value) if name == "scale" else str(value)) if value not in (None, "") else "-")
    return "|".join(parts)


def is_selected_figure(v: Verdict) -> bool:
    """A published (golden) figure this run set out to judge: counts in judged / selected. Checks with
    a rule but no golden (plumbing, fidelity floors) colour a cell but are not published figures."""
    return v.not_judged is not None or v.golden_id is not None


def is_judged(v: Verdict) -> bool:
    return v.not_judged is None and v.passed is not None


def _hw_order(hw: str) -> tuple[int, str]:
    return (HARDWARE_ORDER.index(hw) if hw in HARDWARE_ORDER else len(HARDWARE_ORDER), hw)


def _check_order(check: str) -> tuple[int, str]:
    return (CHECK_KINDS.index(check) if check in CHECK_KINDS else len(CHECK_KINDS), check)


def cell_state(counts: Counter, judged: int | None = None, selected: int | None = None) -> str:
    """The state a cell shows, from the counts of its figures' verdicts (see CELL_PRECEDENCE). A cell
    none of whose published figures was judged reads "not-judged" even when its other checks passed:
    green must mean the published figures were measured."""
    if not counts.get("fail") and not counts.get("xpass") and selected and not judged:
        return "not-judged"
    for state in CELL_PRECEDENCE:
        if counts.get(state):
            return state
    return "info"


def matrix_cells(verdicts: Sequence[Verdict], skipped: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """One cell per (model, hardware, check) seen: state, counts per verdict, figures judged / selected,
    and the tests of the cell that were skipped (`skipped`: dicts with model, hardware, check, reason;
    those without a model are left out). A cell with skipped tests and no published figure judged reads
    "not-judged": its check never ran."""
    groups: dict[tuple[str, str, str], list[Verdict]] = {}
    for v in verdicts:
        groups.setdefault((v.model, v.hardware, v.check), []).append(v)
    skips: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for s in skipped:
        if s.get("model") and s.get("hardware") and s.get("check"):
            key = (s["model"], s["hardware"], s["check"])
            skips.setdefault(key, []).append(s)
            groups.setdefault(key, [])
    cells = []
    for (model, hw, check), vs in groups.items():
        counts = Counter(v.verdict for v in vs)
        selected = [v for v in vs if is_selected_figure(v)]
        judged = sum(is_judged(v) for v in selected)
        n_skipped = len(skips.get((model, hw, check), []))
        state = cell_state(counts, judged, len(selected) + n_skipped)
        cells.append({
            "model": model, "hardware": hw, "check": check, "state": state,
            "counts": {k: counts[k] for k in VERDICTS if counts[k]},
            "judged": judged, "selected": len(selected), "figures": len(vs), "skipped": n_skipped,
            "skip_reasons": sorted({s.get("reason", "") for s in skips.get((model, hw, check), [])}),
        })
    return sorted(cells, key=lambda c: (c["model"], _hw_order(c["hardware"]), _check_order(c["check"])))


def summary_matrix(verdicts: Sequence[Verdict],
                   skipped: Sequence[dict[str, Any]] = ()) -> dict[str, dict[str, dict[str, str]]]:
    """model -> hardware -> check -> cell state (the compact form of `matrix_cells`)."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for c in matrix_cells(verdicts, skipped):
        out.setdefault(c["model"], {}).setdefault(c["hardware"], {})[c["check"]] = c["state"]
    return out


def matrix_columns(cells: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """The (hardware, check) columns present, cpu first, then by check kind."""
    cols = {(c["hardware"], c["check"]) for c in cells}
    return sorted(cols, key=lambda hc: (_hw_order(hc[0]), _check_order(hc[1])))


def coverage_account(verdicts: Sequence[Verdict]) -> list[dict[str, Any]]:
    """Each selected golden figure not judged in this run, with why (no weights, no card, no data...)."""
    out = []
    for v in verdicts:
        if v.not_judged is None:
            continue
        out.append({"golden_id": v.golden_id, "model": v.model, "hardware": v.hardware, "check": v.check,
                    "backend": v.backend, "precision": v.precision, "scale": v.scale, "protocol": v.protocol,
                    "metric": v.metric, "reason": v.not_judged, "figure_key": figure_key(v)})
    return sorted(out, key=lambda d: (d["model"], _hw_order(d["hardware"]), d["golden_id"] or "", d["figure_key"]))


def coverage_totals(verdicts: Sequence[Verdict]) -> dict[str, Any]:
    """Judged / selected over the whole run, and not-judged figures counted per reason."""
    selected = [v for v in verdicts if is_selected_figure(v)]
    reasons = Counter(v.not_judged for v in verdicts if v.not_judged is not None)
    return {"selected": len(selected), "judged": sum(is_judged(v) for v in selected),
            "not_judged": sum(reasons.values()), "reasons": dict(reasons.most_common())}


def figure_counts(verdicts: Sequence[Verdict]) -> dict[str, int]:
    return {k: sum(v.verdict == k for v in verdicts) for k in VERDICTS}


def changed_findings(verdicts: Sequence[Verdict]) -> list[Verdict]:
    """Figures that failed, or passed where the guide's own figure fails (XPASS): what makes a run red."""
    return [v for v in verdicts if v.verdict in ("fail", "xpass")]


def summary_document(verdicts: Sequence[Verdict], outcomes: dict[str, int], exitstatus: int,
                     identity: dict[str, Any] | None = None, skipped: Sequence[dict[str, str]] = (),
                     sections: dict[str, Any] | None = None) -> dict[str, Any]:
    """summary.json: everything the report side needs, from the verdicts and the run's identity."""
    from srharness.registry import replacements
    return {
        "schema": SUMMARY_SCHEMA,
        "identity": dict(identity or {}),
        "replaced_builtins": replacements(),   # a plugin that took over a built-in name changes its figures
        "exitstatus": int(exitstatus),
        "tests": dict(outcomes),
        "figures": figure_counts(verdicts),
        "coverage": coverage_totals(verdicts),
        "matrix": summary_matrix(verdicts, skipped),
        "cells": matrix_cells(verdicts, skipped),
        "not_judged": coverage_account(verdicts),
        "skipped_tests": list(skipped),
        "verdicts": [{**v.to_dict(), "figure_key": figure_key(v)} for v in verdicts],
        # sections of their own (srharness.report.section): e.g. "Deployability table"
        "sections": dict(sections or {}),
    }


def verdicts_from_summary(summary: dict[str, Any]) -> list[Verdict]:
    """The verdicts of a summary.json (this schema or the first one)."""
    out = []
    for d in summary.get("verdicts", []):
        d = {k: v for k, v in d.items() if k != "figure_key"}
        out.append(Verdict.from_dict(d))
    return out
