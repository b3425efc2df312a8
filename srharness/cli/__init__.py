"""`srharness` command line: one module per command in this package, listed in COMMANDS.

Each module's docstring is its command's description; it defines `arguments(parser)` (the
command's own arguments, if any) and `run(args)` (returns the exit code). Modules import heavy
libraries (torch, onnxruntime) inside their functions so that `srharness --help` stays instant.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
from srharness.errors import SrHarnessError
from srharness import settings

# The command table: each command as typed -> (its module in this package, its one-line help, the
# settings and shared ARGUMENTS it takes). A setting's flag, help, metavar, default and environment
# twin come from its row in srharness.settings (the one declaration the pytest plugin and the
# README's option table read too); the command resolves its value there.
COMMANDS = {
    "doctor": ("doctor", "show detected hardware, tool paths and library versions",
               ("sr_data_dir", "sr_weights_dir")),
    "export": ("export", "export a model to ONNX and report its real opset and op census",
               ("weights", "sr_weights_dir")),
    "eval": ("eval", "PSNR/SSIM of a model on a dataset under a guide's protocol",
             ("weights", "sr_data_dir", "sr_weights_dir")),
    "bench": ("bench", "time a model on a backend (latency percentiles, throughput, CV)", ()),
    "parse-log": ("parse_log", "parse a vendor tool log (benchmark, ais_bench, vamp, trtexec, op_statistic, npu-smi)",
                  ()),
    "golden": ("golden", "check, list and apply golden figures", ()),
    "nightly": ("nightly", "run the acceptance suites with required hardware and build the Allure report", ()),
    "train": ("train", "train RCAN (yjn870 layout) as the Ascend guide does; 1 or N processes", ()),
    "merge": ("merge", "merge shard folders (srharness nightly --shard) into one report and one summary", ()),
    "farm": ("farm", "run the nightly's shards on the Ray cluster's card hosts and merge them into one report", ()),
    "farm-node": ("farm_node", "join the farm's Ray cluster, advertising the cards this host has", ()),
    "diagnose": ("diagnose", "localise an accuracy drop layer by layer and search the smallest fix",
                 ("weights", "sr_data_dir", "sr_weights_dir", "sr_golden_dir")),
    "compare": ("compare", "compare the figures of two runs (default: the latest two on this host)", ()),
    "where": ("where", "print the path of something srharness ships (suites, golden, logs, ...)", ()),
    "fakes": ("fakes", "print the shell lines that put the fake vendor tools on PATH", ()),
    "example": ("example", "print an example config (nightly, farm) ready to save and edit", ()),
    "new-model": ("new_model", "scaffold a project for your own model: plugin, protocol, golden, tests", ()),
    "deployability": ("deployability", "deployability table of the SR architectures spandrel supports "
                      "(srharness[zoo] extra)", ("sr_data_dir",)),
}
ACTIONS = {"golden list": ("sr_golden_dir",), "golden judge": ("sr_golden_dir",)}   # a command's actions' settings
GLOBAL = ("sr_plugin", "sr_allow_pickle_class")   # every command, accepted before or after its name
# Arguments several commands share that are not settings (no environment twin): declared once here.
ARGUMENTS = {
    "weights": ("--weights", {"metavar": "PATH", "help": "checkpoint to load (strict), or 'auto': the model's official "
                              "checkpoint in the weights dir; default: deterministic random init (said in the output); "
                              "with no MODEL, a checkpoint whose architecture is detected (srharness[zoo] extra)"}),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srharness", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"srharness {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, summary, takes) in COMMANDS.items():
        module = importlib.import_module(f"srharness.cli.{module_name}")
        p = sub.add_parser(name, help=summary, description=inspect.getdoc(module),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if hasattr(module, "arguments"):
            module.arguments(p)
        if hasattr(module, "run"):        # else each action sets its own (golden check / list / judge)
            p.set_defaults(func=module.run)
        add_options(p, takes)
        add_options(p, GLOBAL, default=argparse.SUPPRESS)
    for command, takes in ACTIONS.items():
        add_options(_subcommand(sub, command.split()), takes)
    add_options(parser, GLOBAL)
    return parser


def add_options(parser, names, default=None) -> None:
    for name in names:
        flag, kwargs = ARGUMENTS[name] if name in ARGUMENTS else settings.cli_option(name, default)
        parser.add_argument(flag, **kwargs)


def _subcommand(sub, words: list[str]) -> argparse.ArgumentParser:
    """The parser of `srharness WORD [WORD]` (a command, or an action of one such as golden list)."""
    parser = sub.choices[words[0]]
    for word in words[1:]:
        parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[word]
    return parser


def load_extensions(args) -> None:
    """Plugins (entry points, SRHARNESS_PLUGINS, --sr-plugin) and the pickle allow-list."""
    from srharness import registry
    from srharness.checkpoints import ALLOW_PICKLE_ENV, allow_pickle_classes
    registry.load_plugins([p.strip() for v in (args.sr_plugin or []) for p in v.split(",") if p.strip()])
    for line in registry.replacements():   # never silent: a replaced built-in changes its figures
        print(f"srharness: WARNING: {line}", file=sys.stderr)
    allowed = ",".join(args.allow_pickle_class or []) or settings.env(ALLOW_PICKLE_ENV, "")
    try:
        allow_pickle_classes(allowed)
    except ValueError as exc:
        raise CliError(f"--allow-pickle-class / {ALLOW_PICKLE_ENV}: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if "--json" in argv:   # a usage error too gets its JSON object on stdout, same exit code
        def error(message, usage_of=parser):
            usage_of.print_usage(sys.stderr)
            print(f"{usage_of.prog}: error: {message}", file=sys.stderr)
            import json
            print(json.dumps({"error": message, "command": next((a for a in argv if not a.startswith("-")), None),
                              "exit_code": 2}))
            sys.exit(2)
        parser.error = error
        for sub in parser._subparsers._group_actions[0].choices.values() if parser._subparsers else ():
            sub.error = lambda message, sub=sub: error(message, usage_of=sub)
    args = parser.parse_args(argv)
    try:
        from srharness.fileio import sweep_stale_temporaries
        sweep_stale_temporaries()
        from srharness.allocator import keep_freed_memory
        keep_freed_memory()
        load_extensions(args)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:   # `srharness golden list | head`: the reader left; not an error of ours
        try:
            sys.stdout = open(os.devnull, "w")   # so the interpreter's final flush does not complain
        except OSError:
            pass
        return 0
    except CliError as exc:
        return report_error(args, str(exc))
    except Exception as exc:   # the project's own errors and the file system's: one message, no traceback
        message = user_error_message(exc)
        if message is None:
            raise
        if isinstance(exc, OSError) and exc.filename is None:   # "[Errno 28] No space left" names no path
            where = [str(getattr(args, a)) for a in ("out", "output", "work_dir", "out_dir", "history")
                     if getattr(args, a, None)]
            if where:
                message += f" (while writing under {', '.join(where)}; free some space or write elsewhere)"
        return report_error(args, message)


DESCRIPTION = ("Conformance suite for deploying super-resolution models from PyTorch to ONNX and inference "
               "hardware: export, evaluate against the published figures, time, run the nightly and compare runs.")


def _version() -> str:
    from importlib import metadata
    try:
        return metadata.version("srharness")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def report_error(args, message: str, code: int = 2) -> int:
    """The error on stderr; with --json also a JSON error object on stdout, same exit code."""
    print(f"srharness {args.command}: error: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        import json
        try:
            print(json.dumps({"error": message, "command": args.command, "exit_code": code}))
        except OSError:   # stdout closed (a pipe's reader left): the message is on stderr already
            pass
    return code


# Third-party errors a user fixes by changing their input (an image too large or unreadable for
# PIL). Ours are all srharness.errors.SrHarnessError; these are named so the CLI never imports PIL.
THIRD_PARTY_USER_ERRORS = ("DecompressionBombError", "UnidentifiedImageError")


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message for an error the user can act on, or None for a bug (traceback kept)."""
    if isinstance(exc, OSError):
        return os_error_message(exc)
    if isinstance(exc, SrHarnessError):
        return str(exc)
    if type(exc).__module__.startswith("PIL") and type(exc).__name__ in THIRD_PARTY_USER_ERRORS:
        return str(exc)
    return None


def os_error_message(exc: OSError) -> str:
    """'PATH: reason' for a file-system error (disk full, read-only, a directory where a file goes)."""
    import errno
    reason = exc.strerror or str(exc)
    hint = {errno.ENOSPC: "free some space or write elsewhere", errno.EROFS: "write to a writable location",
            errno.EACCES: "check the permissions or write elsewhere",
            errno.EISDIR: "give a file name, not a folder", errno.ENOTDIR: "a parent in the path is a file",
            errno.ENOENT: "check the path"}.get(exc.errno)
    if exc.filename is None:
        return str(exc)          # e.g. a device lock timeout: its message names the lock file
    where = exc.filename
    other = f" -> {exc.filename2}" if getattr(exc, "filename2", None) else ""
    return f"{where}{other}: {reason}" + (f" ({hint})" if hint else "")


def model_from_weights(args, default_scale: int = 2):
    """MODEL omitted and --weights a checkpoint file: its architecture, scale and size rules are
    detected (srharness.zoo, the `srharness[zoo]` extra) and a model spec is registered for it;
    args.model and args.scale are set from it. With a MODEL, only the scale default is filled in."""
    if getattr(args, "model", None):
        if args.scale is None:
            args.scale = default_scale
        return None
    weights = getattr(args, "weights", None)
    if not weights or weights == "auto":
        raise CliError("give a MODEL name, or --weights CHECKPOINT (.pth / .safetensors of a public SR "
                       "architecture: detected with spandrel, the srharness[zoo] extra)")
    from srharness.zoo import register_checkpoint
    spec, det = register_checkpoint(weights)
    if args.scale is not None and args.scale != det.scale:
        raise CliError(f"--scale {args.scale}: {weights} is a x{det.scale} {det.architecture} model; "
                       f"drop --scale or give {det.scale}")
    args.model, args.scale = spec.name, det.scale
    print(det.summary(), file=sys.stderr if getattr(args, "json", False) else sys.stdout, flush=True)
    return det


class CliError(SrHarnessError):
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
