"""`srharness` command line: one module per subcommand in this package.

Each module defines `add_parser(subparsers)` which registers its parser and sets `func`, a
function taking the parsed args and returning the exit code. Modules import heavy libraries
(torch, onnxruntime) inside their functions so that `srharness --help` stays instant.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("doctor", "export", "eval", "bench", "parse_log", "golden", "nightly", "train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srharness", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"srharness.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except CliError as exc:
        print(f"srharness {args.command}: error: {exc}", file=sys.stderr)
        return 2


class CliError(Exception):
    """An error the user can fix; printed as one message, no traceback."""


if __name__ == "__main__":
    sys.exit(main())


def model_spec(name: str, scale: int):
    """The registry spec of a model named on the command line, checked against the scale."""
    from srharness.models import get_model_spec
    try:
        spec = get_model_spec(name)
    except KeyError as exc:
        raise CliError(exc.args[0]) from None
    if scale not in spec.scales:
        raise CliError(f"{spec.name} is defined for scales {list(spec.scales)}, not x{scale}")
    return spec
