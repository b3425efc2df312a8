"""srharness nightly: the acceptance run (pytest over the suites, Allure report, summary JSON)."""
from __future__ import annotations

DEFAULT_CONFIG = "nightly.yaml"


def add_parser(sub):
    p = sub.add_parser(
        "nightly", help="run the acceptance suites with required hardware and build the Allure report",
        description="Runs pytest over the configured suites with --sr-require, writes Allure results with "
                    "environment, categories and history, generates the HTML report (no analytics script) "
                    "and the summary JSON. Exit 0 only when everything passed and all required hardware was there.")
    p.add_argument("--config", default=DEFAULT_CONFIG,
                   help=f"YAML config (default: {DEFAULT_CONFIG}; see nightly.example.yaml)")
    p.add_argument("--no-report", action="store_true", help="write the Allure results only, no HTML report")
    p.set_defaults(func=run)


def run(args) -> int:
    from srharness.cli import CliError
    from srharness.nightly import NightlyConfigError, load_config, run_nightly
    try:
        cfg = load_config(args.config)
        return run_nightly(cfg, generate=not args.no_report)
    except NightlyConfigError as exc:
        raise CliError(str(exc)) from None
