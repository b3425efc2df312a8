"""srharness golden: check golden files against the schema, list figures, judge a value."""
from __future__ import annotations

import json
from pathlib import Path

from srharness.cli.args import finite_float
from srharness import settings


def arguments(p):
    gsub = p.add_subparsers(dest="golden_command", required=True, metavar="ACTION")
    c = gsub.add_parser("check", help="validate golden YAML files (schema, rules, references)")
    c.add_argument("files", nargs="+", type=Path, help="golden YAML files or folders")
    c.add_argument("--json", action="store_true", help="print each file's result as JSON")
    c.set_defaults(func=_check)
    ls = gsub.add_parser("list", help="list figures with their rule and provenance")
    ls.add_argument("--model", default=None)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)
    j = gsub.add_parser("judge", help="judge a measured value against a golden")
    j.add_argument("id")
    j.add_argument("measured", type=finite_float, help="the measured value (a finite number)")
    j.add_argument("--json", action="store_true")
    j.set_defaults(func=_judge)


def _golden_dir(arg: Path | None) -> Path:
    """--golden-dir, $SRHARNESS_GOLDEN_DIR, ./golden, or srharness's bundled published figures."""
    from srharness import resources
    return Path(settings.resolve("sr_golden_dir", flag=arg) or resources.golden_dir(Path.cwd()))


def _check(args) -> int:
    from srharness.golden import GoldenError, check_file, load_goldens
    status = 0
    results = []
    for path in args.files:
        try:
            n = len(load_goldens(path)) if path.is_dir() else len(check_file(path))
            results.append({"path": str(path), "ok": True, "figures": n})
            if not args.json:
                print(f"{path}: OK, {n} figures")
        except GoldenError as exc:
            results.append({"path": str(path), "ok": False, "error": str(exc)})
            if not args.json:
                print(f"{exc}")
            status = 1
    if args.json:
        print(json.dumps({"files": results, "exit_code": status}, indent=2, ensure_ascii=False))
    return status


def _load(args):
    from srharness.cli import CliError
    from srharness.golden import GoldenError, load_goldens
    try:
        return load_goldens(_golden_dir(args.golden_dir))
    except GoldenError as exc:
        raise CliError(str(exc)) from None


def _list(args) -> int:
    gs = _load(args)
    figures = [g for g in gs if args.model in (None, g.model)]
    if args.json:
        print(json.dumps([{"id": g.id, "value": g.value, "unit": g.unit, "rule": g.rule.describe(g.unit),
                           "provenance": g.provenance} for g in figures], indent=2, ensure_ascii=False))
        return 0
    def fit(text: str, width: int = 120) -> str:
        text = " ".join(text.split("\n"))
        return text if len(text) <= width else text[:width - 4] + " ..."
    id_width = min(max((len(g.id) for g in figures), default=0), 48)
    for g in figures:   # two lines a figure, each within 120 columns: the figure and rule, then its source
        print(fit(f"{g.id:<{id_width}}  {g.value:>10.6g} {g.unit:<4}  {g.rule.describe(g.unit)}"))
        print(fit(f"    source: {g.provenance}"))
    return 0


def _judge(args) -> int:
    from srharness.cli import CliError
    gs = _load(args)
    try:
        g = gs.get(args.id)
    except KeyError as exc:
        raise CliError(exc.args[0]) from None
    try:
        r = g.judge(args.measured)
    except ValueError as exc:
        raise CliError(f"{g.id}: {exc}") from None
    if args.json:
        print(json.dumps({"id": g.id, "measured": r.measured, "golden": r.golden, "delta": r.delta,
                          "relative": r.relative, "rule": r.rule_text, "passed": r.passed}, ensure_ascii=False))
    else:
        print(f"{g.id}: {r.text}")
    return 0 if r.passed is not False else 1
