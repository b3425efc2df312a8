"""srharness parse-log TOOL FILE [--json]: read a vendor tool's log and print its figures."""
from __future__ import annotations

import json


def arguments(p):
    from srharness.tools.logs import PARSERS
    p.add_argument("tool", choices=sorted(PARSERS), help="which tool wrote FILE")
    p.add_argument("file", help="the log: a perf file, captured stdout, op_statistic_*.csv, sumary.json ...")
    p.add_argument("--json", action="store_true", help="print the parsed figures as JSON")
    from srharness.cli.args import percentage
    p.add_argument("--hotspot-share", type=percentage, default=None, metavar="PCT",
                   help="op_statistic only: report op types above PCT%% of device time (default: srharness.perf's)")


def run(args) -> int:
    from srharness.cli import CliError
    from srharness.perf import DEFAULT_HOTSPOT_SHARE_PCT, find_hotspots
    from srharness.tools.logs import LogParseError, parse_file

    try:
        parsed = parse_file(args.tool, args.file)
    except LogParseError as exc:
        raise CliError(str(exc)) from None
    data = {"tool": args.tool, **parsed.to_dict()}
    if args.tool == "trtexec":
        data["fps_batch1"] = parsed.fps(1)
    if args.tool == "op_statistic":
        share = DEFAULT_HOTSPOT_SHARE_PCT if args.hotspot_share is None else args.hotspot_share
        data["hotspots"] = [{**vars(h), "finding": h.describe()} for h in find_hotspots(parsed, share)]
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        for key, value in data.items():
            print(f"{key}: {value}")
    return 0
