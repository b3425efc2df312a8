"""The conformance matrix page the report opens on."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from srharness.fileio import atomic_write_text

from .config import NightlyConfig

# ---------------------------------------------------------------- the report's first page
MATRIX_PAGE = "conformance-matrix.html"
MATRIX_ATTACHMENT = "Conformance matrix and coverage"
VERDICT_TABLE_ATTACHMENT = "measured vs golden (table)"   # srharness.report.attach_verdict_table
TREND_RUNS = 20


def write_matrix_page(cfg: NightlyConfig, summary: dict[str, Any]) -> Path:
    """The conformance matrix, the coverage account, the changes since the previous run and the
    trends over the archived runs of this host: one HTML page, beside the summary and as the
    Allure global attachment the report opens on (with a global error per failure of the run)."""
    from srharness.report import history, page
    ident = summary.get("identity", {})
    runs = [r for _, r in history.archived_runs(cfg.history_dir)
            if r.get("identity", {}).get("host") == ident.get("host")
            and r.get("identity", {}).get("hardware_key") == ident.get("hardware_key")][-TREND_RUNS:]
    text = page.matrix_page_html(summary, compare=summary.get("compare"), trend=page.trend_png(runs),
                                 runs_in_history=len(runs))
    out = cfg.out_dir / MATRIX_PAGE
    atomic_write_text(out, text)
    source = f"{uuid.uuid4()}-attachment.html"
    (cfg.results_dir / source).write_text(text, encoding="utf-8")
    # Allure's global errors are the run's failures only: a figure not judged is a legitimate state
    # (its own "Not judged" category and the coverage account), an error only under require_figures.
    errors = [{"message": f} for f in summary.get("failures", [])]
    if (summary.get("require_figures") or {}).get("required"):
        errors += [{"message": f"not judged: {d['golden_id'] or d['figure_key']}: {d['reason']}"}
                   for d in summary.get("not_judged", [])]
    globals_doc = {"attachments": [{"name": MATRIX_ATTACHMENT, "type": "text/html", "source": source}],
                   "errors": errors}
    (cfg.results_dir / f"{uuid.uuid4()}-globals.json").write_text(json.dumps(globals_doc, indent=1), encoding="utf-8")
    return out


# Opens the report on the matrix: with no route in the address (index.html#/ is the results tree), go to the global attachments and
# expand the matrix (Allure 3's awesome report has no setting for its landing tab). HTML attachment
# previews (the matrix, verdict tables, protocol conventions) are sized to their content, not a
# fixed box a few rows high.
OPEN_MATRIX_SCRIPT = """<style id="srharness-report-style">[data-testid="html-attachment-preview"]{max-height:none!important;height:auto!important}
[data-testid="html-attachment-preview"] iframe{min-height:60px;max-height:none!important}</style>
<script id="srharness-open-matrix">(function(){
function fit(f){if(f.dataset.srFit)return;f.dataset.srFit="1";
try{var d=f.contentDocument;if(d&&d.body&&d.body.childElementCount){f.style.height=(d.documentElement.scrollHeight+24)+"px";return;}}catch(e){}
/* the preview is an opaque-origin blob: read the height the page declares for itself */
fetch(f.src).then(function(r){return r.text();}).then(function(t){var m=/name=["']srharness-height["'] content=["'](\\d+)/.exec(t);
f.style.height=Math.round(m?Math.min(+m[1],innerHeight*0.85):innerHeight*0.6)+"px";}).catch(function(){f.style.height="60vh";});}
function fitAll(){document.querySelectorAll('[data-testid="html-attachment-preview"] iframe').forEach(fit);}
new MutationObserver(fitAll).observe(document.documentElement,{childList:true,subtree:true});
/* open the first thing to read: the matrix on the first page, the verdict table on a result's page */
var handled={};function open(label){var b=Array.prototype.find.call(document.querySelectorAll("button"),
function(e){return e.textContent.trim().slice(-label.length)===label;});if(!b)return false;
setTimeout(function(){if(!document.querySelector('[data-testid="html-attachment-preview"]'))b.click();},400);return true;}
setInterval(function(){var h=location.hash;if(handled[h])return;
if(h==="#/globalAttachments"){if(open(%s))handled[h]=1;}
else if(/^#\\/[0-9a-f]{32}(\\/overview)?$/.test(h)){if(open(%s))handled[h]=1;}},200);
if(!location.hash||location.hash==="#")location.hash="#/globalAttachments";  /* index.html#/: the results tree */
})();</script>"""


def open_matrix_first(report_dir: Path) -> None:
    index = report_dir / "index.html"
    if not index.is_file():
        return
    text = index.read_text(encoding="utf-8", errors="surrogateescape")
    if "srharness-open-matrix" in text:
        return
    script = OPEN_MATRIX_SCRIPT % (json.dumps(MATRIX_ATTACHMENT), json.dumps(VERDICT_TABLE_ATTACHMENT))
    text = text.replace("</body>", script + "</body>", 1) if "</body>" in text else text + script
    atomic_write_text(index, text, errors="surrogateescape")


def _load_summary(path: Path) -> dict[str, Any]:
    if not path.is_file():  # pytest never reached its terminal summary (usage error)
        return {"schema": "srharness-summary/2", "tests": {}, "figures": {}, "matrix": {}, "cells": [],
                "not_judged": [], "verdicts": [], "failures": []}
    return json.loads(path.read_text(encoding="utf-8"))
