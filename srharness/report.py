"""Evidence for the report: Allure labels, titles and attachments, and the run summary.

Every evidence function is a no-op when allure-pytest is not active (no `--alluredir`): the
check is one module-level boolean, set once per run in `pytest_configure`, so checks call them
freely. Heavy work (matplotlib figures) happens only when the report is being written.

Loaded as a pytest plugin by the root conftest.py. It also
- labels, titles and tables every test from the verdicts it recorded with `sr_record`
  (a `pytest_runtest_makereport` hook: no check has to do it by hand);
- prints the model x hardware x check summary at the end of every run and writes it as JSON
  (`--sr-summary-json PATH` / SRHARNESS_SUMMARY_JSON).
"""
from __future__ import annotations

import csv
import html
import io
import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pytest

from srharness.records import Verdict
from srharness.fileio import atomic_write_text

SUMMARY_JSON_ENV = "SRHARNESS_SUMMARY_JSON"
LABEL_NAMES = ("model", "check", "hardware", "precision", "dataset", "protocol", "backend")
CHECK_KINDS = ("export", "accuracy", "perf", "training")
HARDWARE_NAMES = ("cpu", "cuda", "ascend", "vacc")

# One flag per process: True while a pytest run with allure-pytest's listener is configured.
# A stack so that a nested in-process run (pytester) restores the outer run's state.
_active = False
_active_stack: list[tuple[bool, Any]] = []
_listener = None   # allure-pytest's listener while active


def active() -> bool:
    """Whether evidence is being written; lets a check skip preparing costly evidence."""
    return _active


# ---------------------------------------------------------------- evidence API
def label(**labels: str | None) -> None:
    """Allure labels: model=, check=, hardware=, precision=, dataset=, protocol=, backend=."""
    if not _active:
        return
    import allure
    present = _current_labels()
    for name, value in labels.items():
        if value is not None and value != "" and (name, str(value)) not in present:
            allure.dynamic.label(name, str(value))


def _current_labels() -> set[tuple[str, str]]:
    """Labels the running test already has, so that a check and the automatic labelling never double one."""
    test = _listener.allure_logger.get_test(None) if _listener is not None else None
    return {(lab.name, lab.value) for lab in test.labels} if test is not None else set()


def title(text: str) -> None:
    """Dynamic test title, e.g. "RDN x2 - ascend om - Set5 - PSNR 38.27 vs golden 38.18 (rule: >= -1%)"."""
    if not _active:
        return
    import allure
    allure.dynamic.title(text)


def attach_text(name: str, text: str) -> None:
    """Plain text evidence: a vendor tool's raw log, a command line."""
    if not _active:
        return
    import allure
    allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)


def attach_json(name: str, obj: Any) -> None:
    """JSON evidence: an ONNX op census, a parsed tool log, conditions."""
    if not _active:
        return
    import allure
    allure.attach(json.dumps(obj, indent=2, sort_keys=True, default=str), name=name,
                  attachment_type=allure.attachment_type.JSON)


def attach_file(path, name: str | None = None) -> None:
    """A file as evidence (type from its suffix)."""
    if not _active:
        return
    import allure
    path = Path(path)
    types = {".png": allure.attachment_type.PNG, ".jpg": allure.attachment_type.JPG,
             ".json": allure.attachment_type.JSON, ".csv": allure.attachment_type.CSV,
             ".html": allure.attachment_type.HTML, ".svg": allure.attachment_type.SVG,
             ".xml": allure.attachment_type.XML, ".yaml": allure.attachment_type.YAML,
             ".yml": allure.attachment_type.YAML}
    kind = types.get(path.suffix.lower(), allure.attachment_type.TEXT)
    allure.attach.file(str(path), name=name or path.name, attachment_type=kind)


def attach_image_panel(name: str, *, sr: np.ndarray, hr: np.ndarray, bicubic: np.ndarray | None = None,
                       psnr: float | None = None) -> None:
    """One PNG panel: bicubic | SR | HR | error heatmap, with PSNR. Arrays HxW or HxWxC, uint8 or [0,1] float."""
    if not _active:
        return
    import allure
    allure.attach(image_panel_png(sr=sr, hr=hr, bicubic=bicubic, psnr=psnr), name=name,
                  attachment_type=allure.attachment_type.PNG)


def attach_latency_plot(name: str, latencies_ms: Sequence[float]) -> None:
    """Latency distribution (histogram and per-iteration trace) as PNG."""
    if not _active:
        return
    import allure
    allure.attach(latency_plot_png(latencies_ms, title=name), name=name,
                  attachment_type=allure.attachment_type.PNG)


def attach_verdict_table(name: str, verdicts: Sequence[Verdict]) -> None:
    """Measured vs golden with the rule and the verdict, as an HTML table and a CSV file."""
    if not _active or not verdicts:
        return
    import allure
    allure.attach(verdict_table_html(verdicts), name=f"{name} (table)", attachment_type=allure.attachment_type.HTML)
    allure.attach(verdict_table_csv(verdicts), name=f"{name} (csv)", attachment_type=allure.attachment_type.CSV)


# ---------------------------------------------------------------- rendering (pure, testable)
def _to_display(img: np.ndarray) -> np.ndarray:
    """Float image on [0,1], HxW or HxWx3, from uint8 or float, HxW / HxWx1 / HxWx3 / 1xHxW."""
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.moveaxis(a, 0, -1)  # CHW -> HWC
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3):
        raise ValueError(f"image panel: expected HxW or HxWxC, got shape {np.asarray(img).shape}")
    a = a.astype(np.float64)
    if np.asarray(img).dtype == np.uint8 or a.max(initial=0.0) > 1.5:
        a = a / 255.0
    return np.clip(a, 0.0, 1.0)


def image_panel_png(*, sr: np.ndarray, hr: np.ndarray, bicubic: np.ndarray | None = None,
                    psnr: float | None = None) -> bytes:
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    sr_d, hr_d = _to_display(sr), _to_display(hr)
    if sr_d.shape != hr_d.shape:
        raise ValueError(f"image panel: SR shape {sr_d.shape} differs from HR shape {hr_d.shape}")
    error = np.abs(sr_d - hr_d)
    if error.ndim == 3:
        error = error.mean(axis=-1)
    panels = []
    if bicubic is not None:
        panels.append(("bicubic", _to_display(bicubic)))
    panels += [("SR" + (f"  PSNR {psnr:.2f} dB" if psnr is not None else ""), sr_d), ("HR", hr_d)]
    fig = Figure(figsize=(3.2 * (len(panels) + 1), 3.6), dpi=90)
    axes = fig.subplots(1, len(panels) + 1)
    for ax, (caption, img) in zip(axes, panels):
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(caption, fontsize=9)
        ax.axis("off")
    im = axes[-1].imshow(error * 255.0, cmap="inferno", vmin=0, interpolation="nearest")
    axes[-1].set_title(f"|SR - HR| (max {error.max() * 255:.1f}/255)", fontsize=9)
    axes[-1].axis("off")
    fig.colorbar(im, ax=axes[-1], fraction=0.046, pad=0.04)
    if psnr is not None:
        fig.suptitle(f"PSNR {psnr:.2f} dB", fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def latency_plot_png(latencies_ms: Sequence[float], title: str = "latency") -> bytes:
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    lat = np.asarray(list(latencies_ms), dtype=np.float64)
    if lat.size == 0:
        raise ValueError("latency plot: no latencies given")
    p50, p90, p99 = np.percentile(lat, [50, 90, 99])
    fig = Figure(figsize=(9, 3.4), dpi=90)
    hist_ax, trace_ax = fig.subplots(1, 2)
    hist_ax.hist(lat, bins=min(40, max(5, lat.size // 3)), color="#4878a8")
    for value, name, style in ((p50, "p50", "-"), (p90, "p90", "--"), (p99, "p99", ":")):
        hist_ax.axvline(value, color="k", linestyle=style, label=f"{name} {value:.3f} ms")
    hist_ax.set_xlabel("latency (ms)")
    hist_ax.set_ylabel("iterations")
    hist_ax.legend(fontsize=8)
    trace_ax.plot(np.arange(1, lat.size + 1), lat, marker=".", linewidth=0.8)
    trace_ax.set_xlabel("iteration")
    trace_ax.set_ylabel("latency (ms)")
    fig.suptitle(f"{title}: n={lat.size}, mean {lat.mean():.3f} ms, p50 {p50:.3f}, p99 {p99:.3f}", fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


TABLE_COLUMNS = ("model", "scale", "hardware", "backend", "precision", "check", "dataset", "protocol",
                 "image", "metric", "measured", "golden", "unit", "rule", "verdict", "golden_id")


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def verdict_rows(verdicts: Iterable[Verdict]) -> list[dict[str, str]]:
    rows = []
    for v in verdicts:
        d = v.to_dict()
        rows.append({c: _fmt(d.get(c)) for c in TABLE_COLUMNS})
    return rows


def verdict_table_csv(verdicts: Sequence[Verdict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=TABLE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(verdict_rows(verdicts))
    return buf.getvalue()


# The HTML table leads with the verdict and the figures, and leaves out columns empty in every row.
HTML_COLUMNS = ("verdict", "metric", "measured", "golden", "unit", "rule", "image", "model", "scale", "hardware",
                "backend", "precision", "check", "dataset", "protocol", "golden_id")


def verdict_table_html(verdicts: Sequence[Verdict]) -> str:
    colours = {"pass": "#1f8a3b", "fail": "#c62828", "info": "#555", "expected-fail": "#b26a00"}
    rows = verdict_rows(verdicts)
    columns = [c for c in HTML_COLUMNS if any(r[c] for r in rows)]
    head = "".join(f"<th>{c}</th>" for c in columns)
    body = []
    for row in rows:
        cells = "".join(
            f'<td style="color:{colours[row["verdict"]]};font-weight:bold">{row["verdict"].upper()}</td>'
            if c == "verdict" else f"<td>{html.escape(row[c])}</td>" for c in columns)
        body.append(f"<tr>{cells}</tr>")
    style = ("table{border-collapse:collapse;font:12px sans-serif}"
             "td,th{border:1px solid #bbb;padding:2px 5px;text-align:left;vertical-align:top}th{background:#eee}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{style}</style></head><body>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></body></html>")


def _display_model(model: str) -> str:
    return model.upper() if "-" not in model else model.split("-", 1)[0].upper() + "-" + model.split("-", 1)[1]


def verdict_title(v: Verdict) -> str:
    """"RDN x2 - ascend om - Set5 - PSNR 38.27 vs golden 38.18 (rule: >= -1%)"."""
    parts = [_display_model(v.model) + (f" x{v.scale}" if v.scale else "")]
    where = v.backend.replace("-", " ")
    parts.append(where if where.startswith(v.hardware) else f"{v.hardware} {where}")
    if v.dataset:
        parts.append(v.dataset + (f"/{v.image}" if v.image else ""))
    figure = f"{v.metric.upper() if len(v.metric) <= 5 else v.metric} {_fmt(v.measured)}"
    if v.unit and v.unit not in ("dB", ""):
        figure += f" {v.unit}"
    if v.golden is not None:
        figure += f" vs golden {_fmt(v.golden)}"
    if v.rule:
        figure += f" (rule: {v.rule})"
    if v.verdict == "fail":
        figure += " FAIL"
    elif v.verdict == "expected-fail":
        figure += " (fails, as the guide's own figure does)"
    parts.append(figure)
    return " - ".join(parts)


def verdicts_of(item) -> list[Verdict]:
    from srharness.plugin import VERDICT_PROPERTY
    return [Verdict.from_dict(json.loads(value)) for name, value in item.user_properties if name == VERDICT_PROPERTY]


def _test_labels(item) -> dict[str, str]:
    """Labels every test gets from its markers and its check class (model, scale)."""
    names = {m.name for m in item.iter_markers()}
    labels = {}
    model = getattr(item.cls, "model", None) if getattr(item, "cls", None) else None
    if model:
        labels["model"] = model
    check = next((c for c in CHECK_KINDS if c in names), None)
    if check:
        labels["check"] = check
    hardware = next((h for h in HARDWARE_NAMES if h in names), None)
    if hardware:
        labels["hardware"] = hardware
    return labels


def _apply_evidence(item, verdicts: list[Verdict]) -> None:
    import allure
    labels = _test_labels(item)
    for v in verdicts:
        for name in LABEL_NAMES:
            value = getattr(v, name)
            if value and name not in labels:
                labels[name] = str(value)
    label(**labels)
    # Grouping that reads at a glance: Behaviors = model / check / hardware.
    if "model" in labels:
        allure.dynamic.epic(_display_model(labels["model"]))
    if "check" in labels:
        allure.dynamic.feature(labels["check"])
    if "hardware" in labels:
        allure.dynamic.story(labels["hardware"] + (f" {labels['backend']}" if "backend" in labels else ""))
    if not verdicts:
        return
    first = verdicts[0]
    for name in ("scale", "backend", "precision", "dataset", "protocol"):
        value = getattr(first, name)
        if value is not None:
            # excluded: the history id must not depend on what a run happened to record
            allure.dynamic.parameter(name, value, excluded=True)
    failing = [v for v in verdicts if v.verdict == "fail"]
    headline = verdict_title(failing[0] if failing else first)
    if len(verdicts) > 1:
        headline += f" (+{len(verdicts) - 1} more, {len(failing)} failing)"
    title(headline)
    attach_verdict_table("measured vs golden", verdicts)


# ---------------------------------------------------------------- pytest hooks
def pytest_addoption(parser):
    parser.getgroup("srharness").addoption(
        "--sr-summary-json", dest="sr_summary_json", default=None,
        help=f"write the model x hardware x check summary of verdicts as JSON to this path [env {SUMMARY_JSON_ENV}]")


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    global _active, _listener
    _active_stack.append((_active, _listener))
    _listener = config.pluginmanager.getplugin("allure_listener")
    _active = _listener is not None


def pytest_unconfigure(config):
    global _active, _listener
    _active, _listener = _active_stack.pop() if _active_stack else (False, None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    yield
    if _active and call.when == "call":
        _apply_evidence(item, verdicts_of(item))


VERDICTS = ("pass", "fail", "info", "expected-fail", "not-judged")


def summary_matrix(verdicts: Sequence[Verdict]) -> dict[str, dict[str, dict[str, str]]]:
    """model -> hardware -> check -> "fail" if any verdict failed, else "pass" if any passed, else "info"."""
    rank = {"not-judged": -1, "info": 0, "pass": 1, "expected-fail": 1, "fail": 2}
    matrix: dict[str, dict[str, dict[str, str]]] = {}
    for v in verdicts:
        cell = matrix.setdefault(v.model, {}).setdefault(v.hardware, {})
        old = cell.get(v.check, "info")
        cell[v.check] = v.verdict if rank[v.verdict] >= rank[old] else old
    return matrix


def summary_lines(verdicts: Sequence[Verdict]) -> list[str]:
    """The terminal table: one row per verdict, sorted by model, hardware, check."""
    cols = ("model", "scale", "hardware", "backend", "precision", "check", "dataset", "image", "metric",
            "measured", "golden", "rule", "verdict")
    ordered = sorted(verdicts, key=lambda v: (v.model, v.hardware, v.check, v.backend, v.metric, v.image or ""))
    rows = [[r[c] for c in cols] for r in verdict_rows(ordered)]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*cols), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r) for r in rows]
    counts = {k: sum(v.verdict == k for v in verdicts) for k in VERDICTS}
    lines.append(f"{len(verdicts)} figures: {counts['pass']} pass, {counts['fail']} fail, {counts['info']} info"
                 + (f", {counts['expected-fail']} expected-fail" if counts["expected-fail"] else ""))
    return lines


def matrix_lines(verdicts: Sequence[Verdict]) -> list[str]:
    """The at-a-glance grid: one row per model, one column per hardware/check, cells pass/FAIL/info (+count)."""
    matrix = summary_matrix(verdicts)
    columns = sorted({(hw, check) for per_hw in matrix.values() for hw, checks in per_hw.items() for check in checks},
                     key=lambda c: (HARDWARE_NAMES.index(c[0]) if c[0] in HARDWARE_NAMES else 99, c[1]))
    counts: dict[tuple[str, str, str], int] = {}
    for v in verdicts:
        counts[(v.model, v.hardware, v.check)] = counts.get((v.model, v.hardware, v.check), 0) + 1
    header = ["model"] + [f"{hw}/{check}" for hw, check in columns]
    rows = []
    for model in sorted(matrix):
        row = [model]
        for hw, check in columns:
            cell = matrix[model].get(hw, {}).get(check)
            row.append("" if cell is None else f"{cell.upper() if cell == 'fail' else cell} ({counts[(model, hw, check)]})")
        rows.append(row)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*header)] + [fmt.format(*r) for r in rows]


def summary_document(verdicts: Sequence[Verdict], outcomes: dict[str, int], exitstatus: int) -> dict[str, Any]:
    return {
        "schema": "srharness-summary/1",
        "exitstatus": int(exitstatus),
        "tests": outcomes,
        "figures": {k: sum(v.verdict == k for v in verdicts) for k in VERDICTS},
        "matrix": summary_matrix(verdicts),
        "verdicts": [v.to_dict() for v in verdicts],
    }


def write_json_atomic(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from srharness.plugin import collected_verdicts
    verdicts = collected_verdicts(config)
    if verdicts:
        terminalreporter.section("srharness summary: model x hardware x check")
        for line in summary_lines(verdicts):
            terminalreporter.write_line(line)
        terminalreporter.write_line("")
        for line in matrix_lines(verdicts):
            terminalreporter.write_line(line)
    path = config.getoption("sr_summary_json", default=None) or os.environ.get(SUMMARY_JSON_ENV)
    if path:
        stats = terminalreporter.stats
        outcomes = {k: len(stats.get(k, [])) for k in ("passed", "failed", "skipped", "error", "xfailed", "xpassed")}
        write_json_atomic(Path(path), summary_document(verdicts, outcomes, exitstatus))
        terminalreporter.write_line(f"srharness: summary JSON written to {path}")
