"""srharness merge: shard folders from any hosts -> one Allure report, one summary, one exit code.

Merges the allure-results and summary.json of shard folders made by `srharness nightly --shard HW`
on any hosts (or by `srharness farm`). Every result keeps its host and card, so the same test from
two hosts stays two results. A shard folder that is missing, never finished or was marked lost
becomes a failed result naming it. Exit 0 only when every shard finished and passed.
"""
from __future__ import annotations


def arguments(p):
    p.add_argument("shard_dirs", nargs="+", metavar="SHARD_DIR", help="shard folders (<hw>@<host>)")
    p.add_argument("-o", "--out", required=True, metavar="OUT",
                   help="output folder: allure-results/, allure-report/, history/, logs/, summary.json")
    p.add_argument("--no-report", action="store_true", help="write the merged Allure results only, no HTML report")
    p.add_argument("--report-name", default="srharness farm", help="title of the merged report")


def run(args) -> int:
    from pathlib import Path
    from srharness.cli import CliError
    from srharness.farm.merge import MergeError, merge_shards
    from srharness.nightly import NightlyConfigError
    try:
        return merge_shards([Path(d) for d in args.shard_dirs], Path(args.out), generate=not args.no_report,
                            report_name=args.report_name)
    except (MergeError, NightlyConfigError) as exc:
        raise CliError(str(exc)) from None
