"""Evidence for the report: Allure labels, titles and attachments, and the run summary.

Every evidence function is a no-op when allure-pytest is not active (no `--alluredir`): the
check is one module-level boolean, set once per run in `pytest_configure`, so checks call them
freely. Heavy work (matplotlib figures) happens only when the report is being written.

The pytest side (the hooks that label and table every test from its verdicts, xfail semantics,
the matrix, the summary JSON, the history and the regression rule) is srharness.pytest_plugin.report;
this package has no pytest hook.

Pure parts: `matrix` (cells, coverage, summary document), `history` (identity, archive, compare,
trends), `page` (the report's first page), `terminal` (the rich tables).
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

from srharness.errors import OutputPathError
from srharness.fileio import atomic_write_text
from srharness.records import Verdict
from srharness.report import history, terminal  # noqa: F401  (srharness.report.history etc.)
# re-exported: `srharness.report.summary_matrix` etc. stay where the report side and merge look for them
from srharness.report.matrix import (VERDICTS, changed_findings, coverage_account, coverage_totals,  # noqa: F401
                                     figure_counts, figure_key, matrix_cells, summary_document, summary_matrix,
                                     verdicts_from_summary)

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


# The user property that carries a report section from a test (xdist ships user properties to the
# controller) into the summary JSON's "sections" (srharness.pytest_plugin.report).
SECTION_PROPERTY = "sr_report_section"


def section(name: str, html_text: str, data: Any) -> tuple[str, str]:
    """A section of its own: on the report's first page, beside the conformance matrix (an Allure
    global attachment, when the report is being written), and in the summary JSON under
    sections[name]. Returns the user property the summary takes it from: hand it to pytest's
    `record_property(*report.section(...))`. `data` must be JSON (no NaN/inf)."""
    if _active:
        import allure
        allure.global_attach(html_text, name=name, attachment_type=allure.attachment_type.HTML)
    return SECTION_PROPERTY, json.dumps({"name": name, "data": data}, allow_nan=False)


def sections_of(user_properties: Iterable[Iterable[tuple[str, str]]]) -> dict[str, Any]:
    """name -> data of every section recorded (each report's user properties; a name seen twice keeps the last)."""
    out: dict[str, Any] = {}
    for props in user_properties:
        for name, value in props:
            if name == SECTION_PROPERTY:
                doc = json.loads(value)
                out[doc["name"]] = doc["data"]
    return out


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
    colours = {"pass": "#1f8a3b", "fail": "#c62828", "info": "#555", "expected-fail": "#b26a00",
               "xpass": "#c62828", "not-judged": "#555"}
    rows = verdict_rows(verdicts)
    # leave out empty columns, and in a table of several rows the ones every row shares (they are
    # the result's parameters and labels): what remains fits the preview without scrolling sideways
    always = ("verdict", "metric", "measured", "golden", "unit", "rule", "golden_id")
    columns = [c for c in HTML_COLUMNS if any(r[c] for r in rows)
               and (c in always or len(rows) == 1 or len({r[c] for r in rows}) > 1)]
    head = "".join(f"<th>{c}</th>" for c in columns)
    body = []
    for row in rows:
        cells = "".join(
            f'<td style="color:{colours[row["verdict"]]};font-weight:bold">{row["verdict"].upper()}</td>'
            if c == "verdict" else f"<td>{html.escape(row[c])}</td>" for c in columns)
        body.append(f"<tr>{cells}</tr>")
    style = ("table{border-collapse:collapse;font:12px sans-serif}body{margin:4px}"
             "td,th{border:1px solid #bbb;padding:2px 5px;text-align:left;vertical-align:top;white-space:nowrap}"
             "th{background:#eee}")
    # the height the report's preview gives it (srharness.nightly sizes previews by this): no inner scrolling
    height = 36 + 22 * (len(rows) + 1)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'>{height_meta(height)}<style>{style}</style></head>"
            f"<body><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></body></html>")


def height_meta(pixels: int) -> str:
    """How tall an HTML attachment wants its preview box (read by the report page's sizing script)."""
    return f'<meta name="srharness-height" content="{int(pixels)}">'



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
    elif v.verdict == "xpass":
        figure += " XPASS (passes where the guide's own figure fails: changed finding)"
    elif v.verdict == "not-judged":
        figure = f"{v.metric.upper() if len(v.metric) <= 5 else v.metric} not judged: {v.not_judged}"
    elif v.verdict == "expected-fail":
        figure += " (fails, as the guide's own figure does)"
    parts.append(figure)
    return " - ".join(parts)


PARAMETER_FIELDS = ("scale", "backend", "precision", "dataset", "protocol", "image")


def figure_parameters(verdicts: Sequence[Verdict]) -> dict[str, str]:
    """The result's parameters: every value its figures cover ("x2, x3, x4"), so that they never
    claim one scale or protocol for a result that holds several."""
    out = {}
    for name in PARAMETER_FIELDS:
        values = []
        for v in verdicts:
            value = getattr(v, name)
            if value is not None and value not in values:
                values.append(value)
        if values:
            out[name] = ", ".join(f"x{x}" if name == "scale" else str(x) for x in values)
    return out


def result_title(verdicts: Sequence[Verdict]) -> str:
    """One figure: its own title. Several: what they cover and how they ended, the failing one named."""
    if len(verdicts) == 1:
        return verdict_title(verdicts[0])
    params = figure_parameters(verdicts)
    first = verdicts[0]
    counts = figure_counts(verdicts)
    bad = next((v for v in verdicts if v.verdict in ("fail", "xpass")), None)
    metrics = ", ".join(dict.fromkeys(v.metric.upper() if len(v.metric) <= 5 else v.metric for v in verdicts))
    where = " ".join(p for p in (first.hardware, params.get("backend"), params.get("precision")) if p)
    text = (f"{_display_model(first.model)} {params.get('scale', '')} - {where} - {len(verdicts)} {metrics} figures"
            + (f" ({params['protocol']})" if params.get("protocol") else "") + ": "
            + ", ".join(f"{n} {k}" for k, n in counts.items() if n))
    if bad is not None:
        text += " - first failing: " + verdict_title(bad)
    return " ".join(text.split())


def _protocol_conventions(verdicts: Sequence[Verdict]) -> dict[str, Any]:
    """Each accuracy figure's protocol conventions and deviations from the benchmark, by protocol and scale."""
    out: dict[str, Any] = {}
    try:
        from srharness.protocols import get_protocol
    except ImportError:  # pragma: no cover - protocols module under edit
        return out
    for v in verdicts:
        if v.check != "accuracy" or not v.protocol or not v.scale:
            continue
        key = f"{v.protocol} x{v.scale}"
        if key in out:
            continue
        try:
            conv = get_protocol(v.protocol).conventions(v.scale)
        except Exception:  # a protocol name only this check knows (fidelity, ...): nothing to state
            continue
        out[key] = conv
    return out


def conventions_html(conventions: dict[str, Any]) -> str:
    """The deviations first (what makes this figure differ from the benchmark), then every convention."""
    lines = sum(2 + len(c.get("deviations") or [1]) for c in conventions.values())
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'>{height_meta(30 + 20 * lines)}"
             "<style>body{font:12px sans-serif;margin:4px}"
             "li{margin:1px 0} td,th{border:1px solid #ccc;padding:1px 4px;text-align:left;vertical-align:top}"
             "table{border-collapse:collapse}</style></head><body>"]
    for key, conv in conventions.items():
        deviations = conv.get("deviations") or []
        parts.append(f"<b>{html.escape(key)}</b>: " + (
            "<ul>" + "".join(f"<li>{html.escape(str(d))}</li>" for d in deviations) + "</ul>"
            if deviations else "no deviation from the benchmark protocol<br>"))
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(val, default=str))}</td></tr>"
                       for k, val in conv.items() if k != "deviations")
        parts.append(f"<details><summary>all conventions</summary><table>{rows}</table></details>")
    return "".join(parts) + "</body></html>"


def _move_attachments_first(count: int) -> None:
    """The last `count` attachments of the running test go first: the verdict table leads the evidence."""
    test = _listener.allure_logger.get_test(None) if _listener is not None else None
    if test is None or len(test.attachments) <= count:
        return
    test.attachments[:] = test.attachments[-count:] + test.attachments[:-count]


def apply_evidence(labels: dict[str, str], verdicts: list[Verdict]) -> None:
    """A test's labels, grouping, parameters, title and verdict tables (the pytest layer calls it
    after each test, with the labels its markers give)."""
    import allure
    labels = dict(labels)
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
    test = _listener.allure_logger.get_test(None) if _listener is not None else None
    present = {p.name for p in test.parameters} if test is not None else set()
    for name, value in figure_parameters(verdicts).items():
        if name not in present:   # pytest's own parametrisation already names it
            # excluded: the history id must not depend on what a run happened to record
            allure.dynamic.parameter(name, value, excluded=True)
    title(result_title(verdicts))
    # first the verdict table, then the protocol's conventions and deviations, then the CSV; the
    # check's own evidence (image panels, logs) follows
    allure.attach(verdict_table_html(verdicts), name="measured vs golden (table)",
                  attachment_type=allure.attachment_type.HTML)
    conventions = _protocol_conventions(verdicts)
    if conventions:
        allure.attach(conventions_html(conventions), name="protocol conventions and deviations",
                      attachment_type=allure.attachment_type.HTML)
    allure.attach(verdict_table_csv(verdicts), name="measured vs golden (csv)", attachment_type=allure.attachment_type.CSV)
    _move_attachments_first(3 if conventions else 2)



def check_writable(path: str | Path, what: str, *, directory: bool) -> Path:
    """Refuse at the start a path the run could not write at its end: fileio's own destination
    check (a folder where a file is wanted, a file in the way), and write permission."""
    from srharness.fileio import check_destination
    p = Path(path).expanduser()
    target = p / ".write-check" if directory else p   # a folder: checked as the place of a file in it (never made)
    try:
        check_destination(target)
    except OSError as exc:
        fix = f"give a file path, e.g. {p / 'summary.json'}" if isinstance(exc, IsADirectoryError) else \
            "choose another path"
        raise OutputPathError(f"{what} {p}: {exc.strerror}; {fix}") from None
    except OutputPathError as exc:   # exists and is not a regular file (a device, FIFO, socket)
        raise OutputPathError(f"{what} {exc}", subject=str(p)) from None
    base = next(a for a in [target.parent, *target.parent.parents] if a.exists())
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what} {p}: {base} is not writable by this user; choose another path")
    return p


def write_json_atomic(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
