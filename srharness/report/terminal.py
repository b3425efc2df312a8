"""Terminal tables (rich), sized to fit 120 columns: the matrix grid, then the figures worth reading
(every figure when few or with -v; otherwise the ones that did not pass), with a protocol column."""
from __future__ import annotations

import io
from typing import Any, Sequence

from srharness.records import Verdict
from srharness.report.matrix import (coverage_totals, figure_counts, matrix_cells, matrix_columns)

ALL_FIGURES_UP_TO = 40     # more than this: only the figures that did not pass (all of them with -v)
STATE_TEXT = {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]", "xpass": "[bold red]XPASS[/]",
              "expected-fail": "[yellow]xfail[/]", "not-judged": "[dim]not judged[/]", "info": "[blue]info[/]"}


def _fmt(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.4f}".rstrip("0").rstrip(".") if abs(x) < 1e5 else f"{x:.4g}"
    return str(x)


def matrix_table(verdicts: Sequence[Verdict], skipped: Sequence[dict] = ()):
    from rich import box
    from rich.table import Table
    cells = matrix_cells(verdicts, skipped)
    cols = matrix_columns(cells)
    by = {(c["model"], c["hardware"], c["check"]): c for c in cells}
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("model", no_wrap=True)
    for hw, check in cols:
        table.add_column(f"{hw}\n{check}", no_wrap=True)
    for model in sorted({c["model"] for c in cells}):
        row = [model]
        for hw, check in cols:
            c = by.get((model, hw, check))
            if c is None:
                row.append("")
                continue
            text = STATE_TEXT[c["state"]]
            if c["selected"]:
                text += f" {c['judged']}/{c['selected']}"
            elif c["figures"]:
                text += f" ({c['figures']})"
            if c["skipped"]:
                text += f" [dim]{c['skipped']} skip[/]"
            row.append(text)
        table.add_row(*row)
    return table


def figures_table(verdicts: Sequence[Verdict], *, verbose: bool = False):
    from rich import box
    from rich.table import Table
    shown = list(verdicts)
    hidden = 0
    if not verbose and len(shown) > ALL_FIGURES_UP_TO:
        shown = [v for v in verdicts if v.verdict not in ("pass", "info")]
        hidden = len(verdicts) - len(shown)
    shown.sort(key=lambda v: (v.model, v.hardware, v.check, v.backend, v.protocol or "", v.scale or 0, v.metric,
                              v.image or ""))
    title = "figures" + (f" that did not pass ({hidden} passing or informational not shown; -v shows all)"
                         if hidden else "")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0), title=title, title_justify="left",
                  min_width=len(title))
    # The verdict comes first: on a narrow terminal the rule text folds, the verdict is never cut.
    for name, kw in (("verdict", {"no_wrap": True}), ("model", {"no_wrap": True}), ("x", {"no_wrap": True}),
                     ("hw", {"no_wrap": True}),
                     ("backend", {"overflow": "fold"}), ("prec", {"no_wrap": True}), ("protocol", {"overflow": "fold"}),
                     ("metric", {"overflow": "fold"}), ("measured", {"justify": "right", "no_wrap": True}),
                     ("golden", {"justify": "right", "no_wrap": True}),
                     ("rule / why not judged", {"overflow": "fold", "min_width": 14, "ratio": 3})):
        table.add_column(name, **kw)
    for v in shown:
        metric = v.metric + (f" {v.image}" if v.image else "")
        table.add_row(STATE_TEXT.get(v.verdict, v.verdict), v.model, str(v.scale or ""), v.hardware, v.backend, v.precision, v.protocol or "", metric,
                      f"{_fmt(v.measured)} {v.unit}".strip(), _fmt(v.golden), _short_reason(v.not_judged) or v.rule or "")
    return table if shown else None


def _short_reason(reason: str | None) -> str:
    """The kind of reason ("no weights", "reference only"): the full text is in the totals line,
    the summary JSON and the report; a 120-column row has no room for paths."""
    return reason.split(":", 1)[0] if reason else ""


def totals_line(verdicts: Sequence[Verdict]) -> str:
    counts = figure_counts(verdicts)
    cov = coverage_totals(verdicts)
    parts = [f"{n} {k}" for k, n in counts.items() if n]
    text = f"{len(verdicts)} figures: " + ", ".join(parts)
    text += f"; golden figures judged {cov['judged']}/{cov['selected']}"
    if cov["reasons"]:
        text += " (not judged: " + "; ".join(f"{n} {r}" for r, n in cov["reasons"].items()) + ")"
    return text


def summary_tables(verdicts: Sequence[Verdict], *, verbose: bool = False, skipped: Sequence[dict] = ()) -> list:
    out = ["conformance matrix (cells: state, golden figures judged/selected or (figures) where no golden, "
           "tests skipped)", matrix_table(verdicts, skipped)]
    figures = figures_table(verdicts, verbose=verbose)
    if figures is not None:
        out.append(figures)
    out.append(totals_line(verdicts))
    return out


def render(renderables: Sequence[Any], width: int = 120, color: bool = False) -> list[str]:
    """Rich renderables as plain lines of at most `width` columns (for pytest's terminal writer)."""
    from rich.console import Console
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system="standard" if color else None, force_terminal=color,
                      highlight=False, soft_wrap=False)
    for r in renderables:
        console.print(r)
    return [line.rstrip() for line in buf.getvalue().rstrip("\n").splitlines()]
