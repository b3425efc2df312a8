"""srharness farm: the nightly across the hosts of a Ray cluster, one shard per (hardware, host), one report.

Places one `srharness nightly --shard HW` per (required hardware, node that offers it) on a Ray
cluster whose nodes joined with `srharness farm-node`, gathers the shard folders to this host and
merges them (`srharness merge`): one Allure report, one summary.json, one exit code. A required
hardware that no node offers fails the run before anything starts. A node that dies or a shard
that times out gives failed results naming the shard. Needs `pip install srharness[farm]`.
"""
from __future__ import annotations

DEFAULT_CONFIG = "farm.yaml"


def arguments(p):
    p.add_argument("--config", default=DEFAULT_CONFIG, help=f"farm YAML (default: {DEFAULT_CONFIG}; see farm.example.yaml)")
    p.add_argument("--address", help="Ray cluster address (HOST:PORT or ray://HOST:10001; default: the config's "
                                     "'address', RAY_ADDRESS, or the cluster this host joined)")
    p.add_argument("--rerun-missing", action="store_true",
                   help="run only the shards of the last run in the output folder that did not finish (lost, timed "
                        "out, missing), keep the finished ones, and merge again")
    p.add_argument("--no-report", action="store_true", help="write the merged Allure results only, no HTML report")


def run(args) -> int:
    from srharness.cli import CliError
    from srharness.farm.launcher import FarmError, load_farm_config, run_farm
    from srharness.farm.merge import MergeError
    try:
        cfg = load_farm_config(args.config)
        return run_farm(cfg, address=args.address, rerun_missing=args.rerun_missing, generate=not args.no_report)
    except (FarmError, MergeError) as exc:
        raise CliError(str(exc)) from None
