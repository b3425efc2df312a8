"""Run history: every run's summary archived with its identity, figures compared between runs, and
the regression rule that fails a run when a figure got worse (`--sr-compare-fail fps:10%,psnr:0.05dB`,
after pytest-benchmark's `--benchmark-compare-fail`).

A figure is matched between runs by its stable key (`matrix.figure_key`: model, check, metric,
hardware, backend, precision, scale, protocol, dataset, image). The regression rule is separate
from the golden rules on purpose: a figure can stay within its golden's 1% and still have lost
0.1 dB since last night, which is a regression a team wants to hear about.
"""
from __future__ import annotations

import fnmatch
import json
import math
import platform
import re
import socket
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

from srharness.fileio import atomic_write_text
from srharness.records import Verdict
from srharness.report.matrix import figure_key, verdicts_from_summary
from srharness import settings
from srharness.errors import InputError

HISTORY_RUNS = "runs"               # <history dir>/runs/<run id>.json
HOST_ENV = "SRHARNESS_HOST_NAME"     # overrides the host name (several hosts behind one name, CI runners)
VERSIONS = ("srharness", "torch", "onnx", "onnxruntime", "numpy", "pytest", "allure-pytest")
# Conditions key a perf check sets when its figure was measured while other tests ran beside it.
CONCURRENT_KEY = "concurrent_work"


MAX_SUMMARY_BYTES = 256 << 20        # a summary of a full nightly is a few MB


class CompareError(InputError):
    """A regression rule or a history that cannot be used; the message names the value and the fix."""


# ---------------------------------------------------------------- identity and archive
def git_commit(root: Path) -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (git not available)"
    return (sha or "unknown (not a git checkout)") + (" (uncommitted changes)" if dirty else "")


def host_name() -> str:
    return settings.env(HOST_ENV) or socket.gethostname() or platform.node() or "unknown-host"


def hardware_identity() -> dict[str, str]:
    """Present hardware and what was found of it: {"cpu": "x86_64", "cuda": "NVIDIA H100 ..."}."""
    from srharness.hardware import HARDWARE, detect
    out = {}
    for hw in HARDWARE:
        d = detect(hw)
        if d.present:
            out[hw] = ", ".join(f"{k}: {v}" for k, v in sorted(d.found.items())) or "present"
    if "cpu" in out:
        out["cpu"] = platform.processor() or platform.machine() or out["cpu"]
    return out


def run_identity(root: Path, *, workers: int = 0, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Who, where and with what a run's figures were made."""
    versions = {}
    for name in VERSIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    hardware = hardware_identity()
    return {
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": host_name(), "git": git_commit(root), "hardware": hardware,
        "hardware_key": "+".join(sorted(hardware)), "python": platform.python_version(),
        "platform": platform.platform(), "versions": versions, "workers": workers, **(extra or {}),
    }


def run_id(identity: dict[str, Any]) -> str:
    stamp = re.sub(r"[^0-9TZ]", "", identity.get("timestamp", "")) or "unknown-time"
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", identity.get("host", "host"))[:40]
    sha = re.sub(r"[^0-9a-f]", "", (identity.get("git", "").split() or [""])[0])[:8] or "nogit"
    return f"{stamp}-{host}-{sha}"


def archive_summary(summary: dict[str, Any], history_dir: Path) -> Path:
    """Keep this run's summary under <history>/runs/<run id>.json (never overwritten by a later run)."""
    runs = Path(history_dir) / HISTORY_RUNS
    path = runs / f"{run_id(summary.get('identity', {}))}.json"
    n = 1
    while path.exists():   # two runs within the same second on one host
        path = runs / f"{run_id(summary.get('identity', {}))}-{n}.json"
        n += 1
    atomic_write_text(path, json.dumps(summary, indent=1, sort_keys=True, default=str) + "\n")
    return path


def load_summary(path: Path) -> dict[str, Any]:
    """A summary file, its structure checked (so a comparison never meets `measured: "abc"`, verdicts
    as a dict or a verdict without its model): CompareError naming the file and what is wrong."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_SUMMARY_BYTES:
            raise CompareError(f"{path}: {path.stat().st_size >> 20} MB is not a summary (at most "
                               f"{MAX_SUMMARY_BYTES >> 20} MB)")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CompareError(f"{path}: no such summary file") from None
    except (OSError, ValueError, RecursionError) as exc:   # RecursionError: a deeply nested foreign file
        raise CompareError(f"{path}: not a readable summary JSON ({type(exc).__name__}: {str(exc)[:120]})") from None
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith("srharness-summary/"):
        raise CompareError(f"{path}: not an srharness summary (no 'schema: srharness-summary/N')")
    check_summary(data, str(path))
    return data


_TEXT_FIELDS = ("model", "check", "metric")


def check_summary(data: dict[str, Any], where: str) -> None:
    """The fields a comparison reads, typed: identity a mapping of scalars, verdicts a list of
    mappings each with model/check/metric text and `measured` a number or null."""
    ident = data.get("identity", {})
    if not isinstance(ident, dict) or not all(isinstance(v, (str, int, float, bool, type(None), list, dict))
                                              for v in ident.values()):
        raise CompareError(f"{where}: 'identity' must be a mapping, got {type(ident).__name__}")
    for key in ("host", "hardware_key", "timestamp"):
        if key in ident and not isinstance(ident[key], (str, type(None))):
            raise CompareError(f"{where}: identity.{key} must be text, got {ident[key]!r:.60}")
    verdicts = data.get("verdicts", [])
    if not isinstance(verdicts, list):
        raise CompareError(f"{where}: 'verdicts' must be a list, got {type(verdicts).__name__}; the file was not "
                           "written by srharness")
    for i, d in enumerate(verdicts):
        if not isinstance(d, dict):
            raise CompareError(f"{where}: verdicts[{i}] must be a mapping, got {type(d).__name__}")
        for key in _TEXT_FIELDS:
            if not isinstance(d.get(key), str) or not d[key]:
                raise CompareError(f"{where}: verdicts[{i}] has no {key!r} (text), got {d.get(key)!r:.60}")
        if "measured" not in d:
            raise CompareError(f"{where}: verdicts[{i}] ({d['model']} {d['metric']}) has no 'measured' (a number or null)")
        m = d.get("measured")
        if m is not None and (isinstance(m, bool) or not isinstance(m, (int, float))):
            raise CompareError(f"{where}: verdicts[{i}] ({d['model']} {d['metric']}): measured {m!r:.60} is not a "
                               "number")
        for key in ("scale",):
            if d.get(key) is not None and (isinstance(d[key], bool) or not isinstance(d[key], int)):
                raise CompareError(f"{where}: verdicts[{i}]: {key} {d[key]!r:.60} is not a whole number")
        for key in ("hardware", "backend", "precision", "protocol", "dataset", "image", "unit", "not_judged",
                    "expected", "golden_id", "rule", "notes"):
            if d.get(key) is not None and not isinstance(d[key], str):
                raise CompareError(f"{where}: verdicts[{i}]: {key} {d[key]!r:.60} is not text")
        if d.get("passed") is not None and not isinstance(d["passed"], bool):
            raise CompareError(f"{where}: verdicts[{i}]: passed {d['passed']!r:.60} is not true/false/null")
        if d.get("conditions") is not None and not isinstance(d["conditions"], dict):
            raise CompareError(f"{where}: verdicts[{i}]: conditions must be a mapping")
        if d.get("golden") is not None and (isinstance(d["golden"], bool) or not isinstance(d["golden"], (int, float))):
            raise CompareError(f"{where}: verdicts[{i}]: golden {d['golden']!r:.60} is not a number")


def archived_runs(history_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Archived summaries, oldest first (by the timestamp in their identity, then by when archived)."""
    folder = Path(history_dir) / HISTORY_RUNS
    runs = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if not path.is_file() or path.is_symlink():
            continue
        try:
            runs.append((path, load_summary(path)))
        except CompareError as exc:
            import sys   # a foreign or half-copied file never stops a comparison; it is named
            print(f"srharness: skipped {exc}", file=sys.stderr)
            continue
    # same second: the one archived later is the later run
    return sorted(runs, key=lambda r: (r[1].get("identity", {}).get("timestamp", ""), r[0].stat().st_mtime_ns,
                                       r[0].name))


def previous_run(history_dir: Path, identity: dict[str, Any],
                 before: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The latest archived run on the same host and hardware as `identity`: archived before `before`
    when that is given (an archived run), else no later than the identity's timestamp."""
    runs = archived_runs(history_dir)
    if before is not None:
        names = [p.resolve() for p, _ in runs]
        if Path(before).resolve() in names:
            runs = runs[:names.index(Path(before).resolve())]
    same = [r for r in runs
            if r[1].get("identity", {}).get("host") == identity.get("host")
            and r[1].get("identity", {}).get("hardware_key") == identity.get("hardware_key")
            and r[1].get("identity", {}).get("timestamp", "") <= identity.get("timestamp", "~")]
    return same[-1] if same else None


# ---------------------------------------------------------------- the regression rule
@dataclass(frozen=True)
class CompareRule:
    metric: str          # a metric name or fnmatch pattern: fps, psnr, latency*
    amount: float        # how much worse a figure may get
    relative: bool       # amount is a fraction of the baseline (10% -> 0.10); else in the figure's unit
    unit: str = ""       # the unit an absolute amount was given in (dB, ms, ...), checked against the figure's

    def describe(self) -> str:
        return f"{self.metric}: worse by more than " + (f"{self.amount * 100:g}%" if self.relative
                                                          else f"{self.amount:g}{self.unit and ' ' + self.unit}")


RULE_RE = re.compile(r"^\s*([A-Za-z0-9_*?.\-\[\]]+)\s*:\s*([0-9]*\.?[0-9]+)\s*(%|[A-Za-z/]*)\s*$")


def parse_compare_rules(text: str) -> list[CompareRule]:
    """"fps:10%,psnr:0.05dB" -> rules. A bare number is absolute in the figure's unit."""
    if not isinstance(text, str):
        raise CompareError(f"regression rule {text!r}: must be text METRIC:AMOUNT[%|UNIT],..., e.g. fps:10%,psnr:0.05dB")
    rules = []
    for part in [p for p in (text or "").split(",") if p.strip()]:
        m = RULE_RE.match(part)
        if not m:
            raise CompareError(f"regression rule {part.strip()!r}: expected METRIC:AMOUNT% or METRIC:AMOUNT[UNIT], "
                               "e.g. fps:10%,psnr:0.05dB")
        metric, amount, unit = m.group(1), float(m.group(2)), m.group(3)
        if unit == "%":
            rules.append(CompareRule(metric, amount / 100.0, True))
        else:
            rules.append(CompareRule(metric, amount, False, unit))
    if not rules:
        raise CompareError(f"regression rule {text!r}: empty; e.g. fps:10%,psnr:0.05dB")
    return rules


def lower_is_better(v: Verdict) -> bool:
    """The verdict's own direction (its rule's `better`, else its metric's: srharness.records)."""
    return v.better == "lower"


def _rule_for(v: Verdict, rules: Sequence[CompareRule]) -> CompareRule | None:
    for rule in rules:
        if fnmatch.fnmatchcase(v.metric, rule.metric):
            return rule
    return None


def _index(verdicts: Sequence[Verdict]) -> dict[str, Verdict]:
    return {figure_key(v): v for v in verdicts if v.measured is not None and v.not_judged is None}


def compare_verdicts(base: Sequence[Verdict], new: Sequence[Verdict],
                     rules: Sequence[CompareRule] = ()) -> list[dict[str, Any]]:
    """Each figure's change from `base` to `new`. status: regressed (the rule fails it), improved,
    unchanged (within the rule or no rule), verdict-changed (e.g. pass -> fail), not-comparable
    (a perf figure measured beside other work), new, gone."""
    a, b = _index(base), _index(new)
    rows = []
    for key in sorted(set(a) | set(b)):
        old, cur = a.get(key), b.get(key)
        v = cur or old
        row: dict[str, Any] = {"figure": key, "model": v.model, "check": v.check, "metric": v.metric,
                               "hardware": v.hardware, "backend": v.backend, "precision": v.precision,
                               "scale": v.scale, "protocol": v.protocol, "unit": v.unit,
                               "base": old.measured if old else None, "new": cur.measured if cur else None,
                               "base_verdict": old.verdict if old else None, "new_verdict": cur.verdict if cur else None,
                               "delta": None, "delta_pct": None, "rule": None, "status": "unchanged"}
        if cur is not None and not math.isfinite(cur.measured):
            # NaN / Infinity is a broken run, never a figure: it fails the gate whatever the rule
            row.update(status="regressed", rule="a figure must be a finite number")
            rows.append(row)
            continue
        if old is not None and not math.isfinite(old.measured):
            old = None      # nothing to compare with: the baseline's figure was broken
            row.update(base=None, base_verdict=None)
        if old is None or cur is None:
            row["status"] = "new" if old is None else "gone"
            rule = _rule_for(v, rules) if cur is None else None
            if rule is not None:   # a figure the rule watches that this run no longer measures
                row.update(status="regressed", rule=f"{rule.describe()}; the figure disappeared")
            rows.append(row)
            continue
        delta = cur.measured - old.measured
        row["delta"] = delta
        row["delta_pct"] = (delta / abs(old.measured) * 100.0) if old.measured else None
        worse = -delta if not lower_is_better(v) else delta          # > 0: got worse
        rule = _rule_for(v, rules)
        if rule is not None:
            row["rule"] = rule.describe()
            if v.check == "perf" and (old.conditions.get(CONCURRENT_KEY) or cur.conditions.get(CONCURRENT_KEY)):
                row["status"] = "not-comparable"
                rows.append(row)
                continue
            limit = rule.amount * abs(old.measured) if rule.relative else rule.amount
            if rule.unit and v.unit and rule.unit.lower() != v.unit.lower():
                raise CompareError(f"regression rule {rule.describe()}: given in {rule.unit}, but {key} is in {v.unit}; "
                                   f"use % or {v.unit}")
            if worse > limit + 1e-12:
                row["status"] = "regressed"
            elif worse < -1e-12:
                row["status"] = "improved"
        elif worse < 0:
            row["status"] = "improved"
        if row["status"] != "regressed" and old.verdict != cur.verdict:
            row["status"] = "verdict-changed"
        rows.append(row)
    return rows


def regressions(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["status"] == "regressed"]


def describe_change(row: dict[str, Any]) -> str:
    """One line naming the figure: "vdsr x2 cpu torch fp32 benchmark set5 psnr 37.59 -> 37.49 dB (-0.10, -0.27%)"."""
    def fmt(x):
        return "-" if x is None else f"{x:.4g}" if abs(x) >= 1000 else f"{x:.4f}".rstrip("0").rstrip(".")
    where = " ".join(str(p) for p in (row["model"], f"x{row['scale']}" if row["scale"] else None, row["hardware"],
                                      row["backend"], row["precision"], row["protocol"], row["metric"]) if p)
    text = f"{where} {fmt(row['base'])} -> {fmt(row['new'])}{' ' + row['unit'] if row['unit'] else ''}"
    if row["delta"] is not None:
        text += f" ({row['delta']:+.4g}" + (f", {row['delta_pct']:+.1f}%" if row["delta_pct"] is not None else "") + ")"
    if row["status"] == "regressed":
        text += f": REGRESSION (rule {row['rule']})"
    elif row["status"] == "verdict-changed":
        text += f": verdict {row['base_verdict']} -> {row['new_verdict']}"
    elif row["status"] == "not-comparable":
        text += ": not comparable (perf figure measured beside other work)"
    return text


def compare_summaries(base: dict[str, Any], new: dict[str, Any],
                      rules: Sequence[CompareRule] = ()) -> list[dict[str, Any]]:
    return compare_verdicts(verdicts_from_summary(base), verdicts_from_summary(new), rules)


# ---------------------------------------------------------------- trends
TREND_METRICS = (("psnr", "PSNR (dB)"), ("fps", "throughput (fps)"), ("latency_p99_ms", "latency p99 (ms)"))


def trend_points(summary: dict[str, Any]) -> dict[str, float]:
    """Key figures of one run, by trend series name: PSNR (judged accuracy figures), fps and latency p99."""
    out: dict[str, float] = {}
    for d in summary.get("verdicts", []):
        if d.get("measured") is None or d.get("not_judged"):
            continue
        metric = d.get("metric")
        base = figure_key(d)
        # PSNR of the figures judged against a golden (published or this run's reference), not plumbing checks
        if metric == "psnr" and d.get("image") is None and (d.get("golden_id") or d.get("golden") is not None):
            out[base] = float(d["measured"])
        elif metric == "fps":
            out[base] = float(d["measured"])
            p99 = ((d.get("conditions") or {}).get("latency_ms") or {}).get("p99")
            if isinstance(p99, (int, float)):
                out[base.replace("|fps|", "|latency_p99_ms|", 1)] = float(p99)
    return out


def trend_series(runs: Sequence[dict[str, Any]]) -> dict[str, list[tuple[str, float | None]]]:
    """figure key -> [(run timestamp, value or None)] over `runs` (oldest first)."""
    points = [(r.get("identity", {}).get("timestamp", "?"), trend_points(r)) for r in runs]
    keys = sorted({k for _, p in points for k in p})
    return {k: [(t, p.get(k)) for t, p in points] for k in keys}
