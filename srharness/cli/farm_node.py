"""srharness farm-node: `ray start` advertising this host's cards (detected) as Ray resources.

Runs `ray start` with --resources set from srharness's hardware detectors (e.g.
{"cpu": 1, "ascend": 4}) and the node label srharness-host=NAME, so that `srharness farm` places
each hardware's shard on a host that has it. Needs `pip install srharness[farm]`. Anything after
`--` goes to `ray start` unchanged.
"""
from __future__ import annotations


def arguments(p):
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--head", action="store_true", help="start the cluster on this host")
    where.add_argument("--address", help="join the cluster whose head is at HOST:PORT")
    p.add_argument("--name", help="this host's name in the farm (default: the host name; env SRHARNESS_HOST_NAME)")
    p.add_argument("--dry-run", action="store_true", help="print the `ray start` command, run nothing")
    p.add_argument("--json", action="store_true", help="print host, resources and command as JSON")
    p.add_argument("ray_args", nargs="*", metavar="-- RAY_START_ARGS", help="passed to `ray start`")


def run(args) -> int:
    from srharness.cli import CliError
    from srharness.farm.node import start_node
    try:
        return start_node(args.name, args.address, args.head, args.ray_args, args.dry_run, args.json)
    except ValueError as exc:
        raise CliError(str(exc)) from None
