"""srharness compare [RUN_A RUN_B]: each figure's change between two archived runs (default: the latest
run in the history vs the previous one on the same host and hardware), judged by a regression rule.

Prints each figure's change between two runs' summaries, matched by figure (model, check, metric,
hardware, backend, precision, scale, protocol, dataset, image). RUN is a summary.json path or a run
id in the history's runs/ folder. With --fail, exits 1 when a figure regressed by more than the rule.
"""
from __future__ import annotations

import json
from pathlib import Path

DEFAULT_HISTORY = "out/nightly/history"


def arguments(p):
    p.add_argument("runs", nargs="*", metavar="RUN", help="baseline and new run (none: the latest two on this host "
                                                          "and hardware; one: it vs the run before it)")
    p.add_argument("--history", default=None, metavar="DIR",
                   help=f"history folder of archived runs (default: the nightly config's, else {DEFAULT_HISTORY})")
    p.add_argument("--config", default=None, metavar="YAML", help="nightly config whose history (and compare_fail) to use")
    p.add_argument("--fail", default=None, metavar="RULES",
                   help="regression rule, e.g. fps:10%%,psnr:0.05dB (default: the config's compare_fail)")
    p.add_argument("--all", action="store_true", help="list unchanged figures too")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")


def _resolve(run: str, history_dir: Path) -> Path:
    from srharness.cli import CliError
    path = Path(run)
    if path.is_file():
        return path
    candidate = history_dir / "runs" / (run if run.endswith(".json") else run + ".json")
    if candidate.is_file():
        return candidate
    raise CliError(f"run {run!r}: neither a summary file nor a run id in {history_dir / 'runs'} "
                   "(list them with: ls " + str(history_dir / "runs") + ")")


def run(args) -> int:
    from srharness.cli import CliError
    from srharness.report import history
    rules_text = args.fail
    history_dir = Path(args.history) if args.history else None
    if args.config:
        from srharness.nightly import NightlyConfigError, load_config
        try:
            cfg = load_config(args.config)
        except NightlyConfigError as exc:
            raise CliError(str(exc)) from None
        history_dir = history_dir or cfg.history_dir
        rules_text = rules_text or cfg.compare_fail
    history_dir = history_dir or Path(DEFAULT_HISTORY)
    try:
        rules = history.parse_compare_rules(rules_text) if rules_text else []
        if len(args.runs) > 2:
            raise CliError("give at most two runs: BASELINE NEW")
        if len(args.runs) == 2:
            base_path, new_path = (_resolve(r, history_dir) for r in args.runs)
            base, new = history.load_summary(base_path), history.load_summary(new_path)
        else:
            if len(args.runs) == 1:
                new_path = _resolve(args.runs[0], history_dir)
                new = history.load_summary(new_path)
            else:
                runs = history.archived_runs(history_dir)
                if not runs:
                    raise CliError(f"no archived runs in {history_dir / 'runs'}: run `srharness nightly` (it archives "
                                   "each run) or pytest with --sr-history-dir, or name two summary files")
                new_path, new = runs[-1]
            prev = history.previous_run(history_dir, new.get("identity", {}), before=new_path)
            if prev is None:
                ident = new.get("identity", {})
                raise CliError(f"no earlier run on host {ident.get('host')!r} with hardware "
                               f"{ident.get('hardware_key')!r} in {history_dir / 'runs'} to compare {new_path.name} with")
            base_path, base = prev
        rows = history.compare_summaries(base, new, rules)
    except history.CompareError as exc:
        raise CliError(str(exc)) from None
    regressed = history.regressions(rows)
    if args.json:
        print(json.dumps({"base": str(base_path), "new": str(new_path), "rule": rules_text, "rows": rows,
                          "regressions": len(regressed), "exit_code": 1 if regressed else 0}, indent=2, default=str))
        return 1 if regressed else 0
    _print_table(rows, base_path, new_path, rules_text, show_all=args.all)
    return 1 if regressed else 0


def _print_table(rows, base_path, new_path, rules_text, show_all: bool) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from srharness.report.history import describe_change
    console = Console(width=120, highlight=False, soft_wrap=False)
    shown = rows if show_all else [r for r in rows if r["status"] != "unchanged"]
    console.print(f"baseline {base_path}\nnew      {new_path}\nrule     {rules_text or 'none (changes listed, none judged)'}")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name, kw in (("model", {"no_wrap": True}), ("x", {}), ("hw", {}), ("backend", {"no_wrap": True}),
                     ("prec", {}), ("protocol", {"no_wrap": True}), ("metric", {"no_wrap": True}),
                     ("base", {"justify": "right"}), ("new", {"justify": "right"}), ("change", {"justify": "right"}),
                     ("status", {"overflow": "fold"})):
        table.add_column(name, **kw)

    def f(x):
        return "" if x is None else f"{x:.4f}".rstrip("0").rstrip(".")
    colour = {"regressed": "bold red", "improved": "green", "verdict-changed": "yellow"}
    for r in shown:
        change = "" if r["delta"] is None else f"{r['delta']:+.4g}" + (
            f" ({r['delta_pct']:+.1f}%)" if r["delta_pct"] is not None else "")
        status = r["status"] + (f": {r['base_verdict']} -> {r['new_verdict']}" if r["status"] == "verdict-changed" else "")
        table.add_row(r["model"], str(r["scale"] or ""), r["hardware"], r["backend"], r["precision"], r["protocol"] or "",
                      r["metric"], f(r["base"]), f(r["new"]), change,
                      f"[{colour[r['status']]}]{status}[/]" if r["status"] in colour else status)
    if shown:
        console.print(table)
    counts = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    console.print(f"{len(rows)} figures: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    for r in rows:
        if r["status"] == "regressed":
            console.print(f"[bold red]{describe_change(r)}[/]")
