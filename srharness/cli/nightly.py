"""srharness nightly: the acceptance run (pytest over the suites, Allure report, summary JSON).

Runs pytest over the configured suites with --sr-require, writes Allure results with environment,
categories and history, generates the HTML report (no analytics script) and the summary JSON.
Exit 0 only when everything passed and all required hardware was there.
"""
from __future__ import annotations

DEFAULT_CONFIG = "nightly.yaml"


def arguments(p):
    p.add_argument("--config", default=DEFAULT_CONFIG,
                   help=f"YAML config (default: {DEFAULT_CONFIG}; see nightly.example.yaml)")
    p.add_argument("--no-report", action="store_true", help="write the Allure results only, no HTML report")
    p.add_argument("--json", action="store_true",
                   help="print the outcome (failures, matrix, coverage, changes) as JSON on stdout; pytest's "
                        "output and progress go to stderr")
    p.add_argument("--shard", metavar="HARDWARE",
                   help="run only the tests that need HARDWARE (cpu, cuda, ascend, vacc), fail-closed for it, into a "
                        "shard folder tagged with this host's identity (merge shards with `srharness merge`)")
    p.add_argument("--shard-dir", metavar="DIR",
                   help="the shard folder (default: <out_dir>/shards/<HARDWARE>@<host>); with --shard")


def run(args) -> int:
    from srharness.cli import CliError
    from srharness.nightly import NightlyConfigError, load_config, run_nightly
    try:
        cfg = load_config(args.config)
        if getattr(args, "shard", None):
            from pathlib import Path
            from srharness.farm.shard import run_shard
            return run_shard(cfg, args.shard, Path(args.shard_dir) if args.shard_dir else None,
                             generate=not args.no_report)
        if getattr(args, "shard_dir", None):
            raise CliError("--shard-dir needs --shard HARDWARE")
        return run_nightly(cfg, generate=not args.no_report, json_output=getattr(args, "json", False))
    except NightlyConfigError as exc:
        raise CliError(str(exc)) from None
