"""The report's first page: the conformance matrix (model x hardware x check) beside the coverage
account (each golden figure not judged, and why), the regressions against the previous run, and the
trends of the key figures over the archived runs. One self-contained HTML document (inline CSS, the
trend chart as an inline PNG), attached to the Allure results as a global attachment.
"""
from __future__ import annotations

import base64
import html
import io
from typing import Any, Sequence

from srharness.report.history import TREND_METRICS, describe_change, trend_series
from srharness.report.matrix import matrix_columns

STATE_STYLE = {   # background, text, label
    "pass": ("#d8f3dc", "#1b5e20", "pass"),
    "fail": ("#ffcdd2", "#b71c1c", "FAIL"),
    "xpass": ("#ffcdd2", "#b71c1c", "XPASS"),
    "expected-fail": ("#fff3cd", "#8a5a00", "expected-fail"),
    "not-judged": ("#e0e0e0", "#424242", "not judged"),
    "info": ("#e3f2fd", "#0d47a1", "info"),
}
MAX_TREND_SERIES = 8   # per chart: more lines than this stop being readable


def _esc(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _anchor(*parts: str) -> str:
    return "fig-" + "-".join(p.replace("|", "-").replace(" ", "_") for p in parts)


def _cell_html(cell: dict[str, Any] | None, model: str, hw: str, check: str, regressed: int = 0) -> str:
    if cell is None:
        return '<td class="none">—</td>'
    bg, fg, label = STATE_STYLE.get(cell["state"], STATE_STYLE["info"])
    if regressed:   # inside its golden rule, but worse than last run by more than the regression rule
        bg, fg = STATE_STYLE["fail"][:2]
        label += f" · ▼ {regressed} regressed"
    counts = cell["counts"]
    detail = []
    if cell["selected"]:
        detail.append(f'{cell["judged"]}/{cell["selected"]} judged')
    for k, name in (("fail", "fail"), ("xpass", "XPASS"), ("expected-fail", "xfail"), ("not-judged", "not judged")):
        if counts.get(k):
            detail.append(f"{counts[k]} {name}")
    if not cell["selected"] and cell["figures"]:
        detail.append(f'{cell["figures"]} figure{"s" if cell["figures"] != 1 else ""}, no golden')
    if cell.get("skipped"):
        detail.append(f'{cell["skipped"]} test{"s" if cell["skipped"] != 1 else ""} skipped')
    return (f'<td style="background:{bg};color:{fg}"><a href="#{_anchor(model, hw, check)}" style="color:{fg}">'
            f'<b>{label}</b></a><br><small>{_esc(", ".join(detail))}</small></td>')


def _short_commit(git: Any) -> str:
    text = str(git or "unknown")
    head = text.split()[0] if text.split() else "unknown"
    if all(c in "0123456789abcdef" for c in head) and len(head) >= 7:
        return head[:10] + (" (uncommitted changes)" if "uncommitted" in text else "")
    return "unknown"


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4f}".rstrip("0").rstrip(".") if abs(x) < 1e5 else f"{x:.4g}"
    return _esc(x)


def trend_png(runs: Sequence[dict[str, Any]]) -> bytes | None:
    """PSNR, fps and latency p99 of the key figures over the archived runs; None with fewer than 2 runs."""
    if len(runs) < 2:
        return None
    series = trend_series(runs)
    if not series:
        return None
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    fig = Figure(figsize=(12, 3.2), dpi=80)
    axes = fig.subplots(1, len(TREND_METRICS))
    x = list(range(len(runs)))
    labels = [r.get("identity", {}).get("timestamp", "?")[5:16].replace("T", " ") for r in runs]
    for ax, (metric, title) in zip(axes, TREND_METRICS):
        keys = [k for k in series if k.split("|")[2] == metric][:MAX_TREND_SERIES]
        for k in keys:
            ys = [v for _, v in series[k]]
            parts = k.split("|")
            ax.plot(x, [float("nan") if y is None else y for y in ys], marker="o", markersize=3, linewidth=1,
                    label=" ".join(p for p in (parts[0], parts[6], parts[4], parts[5], parts[7]) if p != "-"))
        ax.set_title(title, fontsize=10)
        ax.set_xticks(x, labels, rotation=30, fontsize=7, ha="right")
        ax.tick_params(axis="y", labelsize=8)
        if keys:
            ax.legend(fontsize=6, loc="best")
        else:
            ax.text(0.5, 0.5, "no figures", ha="center", va="center", transform=ax.transAxes)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


CSS = """
body{font:13px/1.35 system-ui,sans-serif;margin:8px;color:#222}
h1{font-size:17px;margin:0 0 4px} h2{font-size:14px;margin:12px 0 4px}
.banner{padding:6px 10px;border-radius:4px;font-weight:bold;margin:4px 0 8px}
.wrap{display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap}
table{border-collapse:collapse} td,th{border:1px solid #bbb;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eee} td.none{color:#aaa;text-align:center} small{color:inherit;opacity:.85}
.cov td,.cov th,.fig td,.fig th{font-size:12px} .muted{color:#666}
"""


def matrix_page_html(summary: dict[str, Any], *, compare: dict[str, Any] | None = None,
                     trend: bytes | None = None, runs_in_history: int = 0) -> str:
    """The first page, from a summary document (`matrix.summary_document`)."""
    cells = summary.get("cells", [])
    ident = summary.get("identity", {})
    cov = summary.get("coverage", {})
    figs = summary.get("figures", {})
    regressed = [r for r in (compare or {}).get("rows", []) if r["status"] == "regressed"]
    red = figs.get("fail", 0) + figs.get("xpass", 0) + len(regressed)
    missing = summary.get("require_figures", {}).get("missing", 0)
    # Run-level failures that are no figure (missing hardware, a lost farm shard, pytest crashing)
    # turn the page red too: a green banner over a red exit code would be a lie.
    run = summary.get("nightly") or {}
    other = [f for f in run.get("failures", []) if "figure(s)" not in f and "regression" not in f.lower()]
    other += [f"hardware missing: {hw}" for hw in run.get("missing_hardware", [])
              if not any(hw in f for f in other)]
    other += [f"shard lost: {name}" for name in run.get("shards_lost", []) if not any(name in f for f in other)]
    if red or missing or other:
        colour, words = "#ffcdd2", (f"RED: {figs.get('fail', 0)} figure(s) failed, {figs.get('xpass', 0)} XPASS, "
                                    f"{len(regressed)} regression(s) vs the previous run"
                                    + (f", {missing} required figure(s) not judged" if missing else "")
                                    + "".join(f"; {f}" for f in other))
    else:
        colour, words = "#d8f3dc", "GREEN: no figure failed its golden, none regressed"
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><meta name='srharness-height' content='2000'>"
           f"<style>{CSS}</style></head><body>",
           "<h1>Conformance matrix</h1>",
           f'<div class="muted">{_esc(ident.get("timestamp"))} · host {_esc(ident.get("host"))} · hardware '
           f'{_esc(ident.get("hardware_key"))} · git {_esc(_short_commit(ident.get("git")))} · '
           f'{cov.get("judged", 0)}/{cov.get("selected", 0)} golden figures judged</div>',
           f'<div class="banner" style="background:{colour}">{_esc(words)}</div><div class="wrap"><div>']
    # the matrix
    cols = matrix_columns(cells)
    by = {(c["model"], c["hardware"], c["check"]): c for c in cells}
    hws = []
    for hw, _ in cols:
        if hw not in hws:
            hws.append(hw)
    out.append("<table><thead><tr><th rowspan=2>model</th>"
               + "".join(f"<th colspan={sum(1 for h, _ in cols if h == hw)}>{_esc(hw)}</th>" for hw in hws)
               + "</tr><tr>" + "".join(f"<th>{_esc(check)}</th>" for _, check in cols) + "</tr></thead><tbody>")
    regressed_in: dict[tuple[str, str, str], int] = {}
    for r in regressed:
        key = (r["model"], r["hardware"], r["check"])
        regressed_in[key] = regressed_in.get(key, 0) + 1
    for model in sorted({c["model"] for c in cells}):
        out.append(f"<tr><th>{_esc(model)}</th>" + "".join(
            _cell_html(by.get((model, hw, check)), model, hw, check, regressed_in.get((model, hw, check), 0))
            for hw, check in cols) + "</tr>")
    out.append("</tbody></table>")
    legend = " · ".join(f'<span style="background:{bg};color:{fg};padding:0 4px">{label}</span>'
                        for bg, fg, label in STATE_STYLE.values())
    out.append(f'<div class="muted" style="margin-top:4px">{legend} · "n/m judged": golden figures judged of those '
               "selected · click a cell for its figures</div></div>")
    # the coverage account
    account = summary.get("not_judged", [])
    out.append(f'<div><h2 style="margin-top:0">Coverage: {len(account)} golden figure(s) not judged</h2>')
    if account:   # one row per reason, the figures it stopped beside it; gaps first, reference-only last
        by_reason: dict[str, list[dict[str, Any]]] = {}
        for d in account:
            by_reason.setdefault(d["reason"], []).append(d)
        order = sorted(by_reason.items(), key=lambda kv: (kv[0].startswith("reference only"), -len(kv[1])))
        out.append('<table class="cov"><tr><th>why not judged</th><th>golden figures</th></tr>')
        for reason, ds in order:
            names = ", ".join(f"{d['golden_id'] or d['figure_key']}" + (f" ({d['hardware']})" if d["hardware"] != "cpu"
                                                                         else "") for d in ds)
            out.append(f"<tr><td>{_esc(reason)}</td><td><b>{len(ds)}</b>: <small>{_esc(names)}</small></td></tr>")
        out.append("</table>")
    else:
        out.append('<div class="muted">every selected golden figure was judged</div>')
    skipped = summary.get("skipped_tests", [])
    if skipped:   # grouped by reason: one line per cause, the tests it stopped beside it
        by_reason: dict[str, list[str]] = {}
        for s in skipped:
            by_reason.setdefault(s.get("reason") or "", []).append(s.get("test", "").split("::", 1)[-1])
        out.append(f"<h2>{len(skipped)} test(s) skipped</h2><table class='cov'><tr><th>why</th><th>tests</th></tr>")
        for reason, tests in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
            shown = ", ".join(tests[:6]) + (f" … +{len(tests) - 6}" if len(tests) > 6 else "")
            out.append(f"<tr><td>{_esc(reason)}</td><td><b>{len(tests)}</b>: <small>{_esc(shown)}</small></td></tr>")
        out.append("</table>")
    out.append("</div></div>")
    # changes since the previous run
    if compare:
        rows = compare.get("rows", [])
        notable = [r for r in rows if r["status"] in ("regressed", "verdict-changed", "improved", "not-comparable")]
        out.append(f"<h2>Since the previous run ({_esc(compare.get('base_run'))}; rule: "
                   f"{_esc(compare.get('rule') or 'none')}): {len(regressed)} regression(s), "
                   f"{len(notable) - len(regressed)} other change(s) of {len(rows)} figures</h2>")
        if notable:
            out.append("<ul>" + "".join(
                f"<li style='color:{'#b71c1c' if r['status'] == 'regressed' else '#222'}'>{_esc(describe_change(r))}</li>"
                for r in notable[:30]) + "</ul>")
    if trend:
        out.append(f"<h2>Trends over the last {runs_in_history} runs on this host</h2>"
                   f"<img alt='trends' style='max-width:100%' src='data:image/png;base64,"
                   f"{base64.b64encode(trend).decode()}'>")
    # the figures behind each cell
    out.append("<h2>Figures</h2>")
    verdicts = summary.get("verdicts", [])
    for c in cells:
        vs = [v for v in verdicts if (v["model"], v["hardware"], v["check"]) == (c["model"], c["hardware"], c["check"])]
        out.append(f"<h3 id='{_anchor(c['model'], c['hardware'], c['check'])}' style='font-size:13px;margin:8px 0 2px'>"
                   f"{_esc(c['model'])} · {_esc(c['hardware'])} · {_esc(c['check'])}: {STATE_STYLE[c['state']][2]}</h3>"
                   "<table class='fig'><tr><th>verdict</th><th>figure</th><th>measured</th><th>golden</th>"
                   "<th>rule</th><th>protocol</th><th>golden id / why not judged</th></tr>")
        for v in vs:
            bg, fg, label = STATE_STYLE.get(v["verdict"], STATE_STYLE["info"])
            what = " ".join(str(p) for p in (v["metric"], f"x{v['scale']}" if v.get("scale") else None, v["backend"],
                                              v["precision"], v.get("dataset"), v.get("image")) if p)
            out.append(f"<tr><td style='background:{bg};color:{fg}'>{label}</td><td>{_esc(what)}</td>"
                       f"<td>{_fmt(v.get('measured'))} {_esc(v.get('unit'))}</td><td>{_fmt(v.get('golden'))}</td>"
                       f"<td>{_esc(v.get('rule'))}</td><td>{_esc(v.get('protocol'))}</td>"
                       f"<td>{_esc(v.get('not_judged') or v.get('golden_id'))}</td></tr>")
        out.append("</table>")
    out.append("</body></html>")
    return "".join(out)
