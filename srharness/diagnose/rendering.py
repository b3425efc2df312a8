"""Rendering the diagnosis: tables (text, HTML), the error-by-depth plot, the report attachments."""

from __future__ import annotations

from typing import Any, Sequence


# ------------------------------------------------------------------ report evidence
def error_by_depth_png(nodes: Sequence[dict], first: dict | None, title: str = "error by depth") -> bytes:
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [n for n in nodes if n.get("sqnr_db") is not None and n.get("depth", -1) >= 0]
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    try:
        depth = [n["depth"] for n in rows]
        ax.plot(depth, [min(n["sqnr_db"], 80.0) for n in rows], "o-", label="SQNR vs reference (dB, capped at 80)")
        ax2 = ax.twinx()
        ax2.plot(depth, [n["cosine"] for n in rows], "s--", color="tab:orange", label="cosine")
        ax2.set_ylabel("cosine similarity")
        if first is not None:
            ax.axvline(first["depth"], color="red", lw=2, label=f"first divergent: {first['node']}")
        ax.set_xlabel("depth (topological index in the reference graph)")
        ax.set_ylabel("SQNR (dB)")
        ax.set_title(title)
        lines = ax.get_legend_handles_labels()
        lines2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="lower left")
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


TABLE_COLUMNS = ("depth", "node", "op_type", "tensor", "cosine", "sqnr_db", "relative_l2", "max_abs_error",
                 "nan_count", "inf_count", "fp16_overflow_count", "qdq_sqnr_db", "clipped_fraction", "clip_error_share",
                 "weight_sqnr_db", "gain_db",
                 "origin", "source")


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def nodes_table_html(nodes: Sequence[dict], first: dict | None) -> str:
    import html
    head = "".join(f"<th>{c}</th>" for c in TABLE_COLUMNS)
    body = []
    for n in nodes:
        style = ""
        if first is not None and n.get("tensor") == first.get("tensor"):
            style = ' style="background:#f8b4b4;font-weight:bold"'
        elif n.get("diverged"):
            style = ' style="background:#fde8e8"'
        body.append(f"<tr{style}>" + "".join(f"<td>{html.escape(_fmt(n.get(c)))}</td>" for c in TABLE_COLUMNS) + "</tr>")
    caption = f"first divergent node: {html.escape(first['node'])}" if first else "no node over threshold"
    return (f"<table border=1 cellspacing=0 cellpadding=3><caption>{caption}</caption><tr>{head}</tr>"
            + "".join(body) + "</table>")


def nodes_table_text(nodes: Sequence[dict], first: dict | None, limit: int | None = None) -> str:
    cols = ("depth", "node", "op_type", "cosine", "sqnr_db", "relative_l2", "max_abs_error", "gain_db", "origin")
    lines = ["  ".join(f"{c:>12}" if c not in ("node",) else f"{c:<48}" for c in cols)]
    for n in list(nodes)[:limit]:
        mark = " <== first divergent" if first is not None and n.get("tensor") == first.get("tensor") else ""
        lines.append("  ".join(f"{_fmt(n.get(c)):>12}" if c != "node" else f"{str(n.get(c))[-48:]:<48}"
                               for c in cols) + mark)
    return "\n".join(lines)


CALIBRATION_COLUMNS = ("tensor", "calibrated_range", "reference_range", "calibrated_clips", "reference_clips", "widening")


def _range_text(v) -> str:
    return f"[{v[0]:.3g}, {v[1]:.3g}]"


def _fmt_widening(w: float | None) -> str:
    return "-" if w is None else f"{w:.2f}x"


def calibration_table_text(rows: Sequence[dict], limit: int | None = None) -> str:
    out = [f"  {'tensor':<56} {'calibrated':>17} {'reference':>17} {'clips':>7} {'ref clips':>9} {'wider':>6}"]
    for r in list(rows)[:limit]:
        out.append(f"  {r['tensor'][-56:]:<56} {_range_text(r['calibrated_range']):>17} "
                   f"{_range_text(r['reference_range']):>17} {r['calibrated_clips']:>7.2%} "
                   f"{r['reference_clips']:>9.3%} {_fmt_widening(r['widening']):>6}")
    return "\n".join(out)


def calibration_table_html(rows: Sequence[dict]) -> str:
    import html
    head = "".join(f"<th>{c}</th>" for c in CALIBRATION_COLUMNS)
    body = []
    for r in rows:
        cells = [r["tensor"], _range_text(r["calibrated_range"]), _range_text(r["reference_range"]),
                 f"{r['calibrated_clips']:.2%}", f"{r['reference_clips']:.3%}", _fmt_widening(r["widening"])]
        style = ' style="background:#fde8e8"' if (r["widening"] or 0.0) > 1.05 else ""
        body.append(f"<tr{style}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return (f"<table border=1 cellspacing=0 cellpadding=3><caption>calibrated vs reference KL ranges "
            f"(shaded: narrower than the reference)</caption><tr>{head}</tr>" + "".join(body) + "</table>")


def attach_diagnosis(result: dict[str, Any], name: str = "diagnose") -> None:
    """Allure evidence when a report is being written: the per-layer table (HTML, first divergent node
    highlighted), the error-by-depth plot, the repair and the JSON."""
    from srharness import report
    if not report.active():
        return
    import allure
    first = result.get("first_divergent_node")
    allure.attach(nodes_table_html(result["nodes"], first), name=f"{name}: per-layer table",
                  attachment_type=allure.attachment_type.HTML)
    allure.attach(error_by_depth_png(result["nodes"], first, title=name), name=f"{name}: error by depth",
                  attachment_type=allure.attachment_type.PNG)
    if result.get("repair"):
        report.attach_json(f"{name}: repair", result["repair"])
        if result["repair"].get("calibration"):
            allure.attach(calibration_table_html(result["repair"]["calibration"]["table"]),
                          name=f"{name}: calibration ranges", attachment_type=allure.attachment_type.HTML)
    report.attach_json(f"{name}: result", {k: v for k, v in result.items() if k != "nodes"})
