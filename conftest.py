import itertools
import re
from pathlib import Path

pytest_plugins = ("srharness.plugin", "srharness.report")

HARNESS_TESTS = Path(__file__).parent / "tests"     # the harness's own tests: none carries a hardware marker
_MARK_NAMES = re.compile(r"[A-Za-z_][\w.]*")


def selects_hardware_tests_only(markexpr: str) -> bool:
    """True when a `-m` expression selects no test without a hardware marker (cpu, cuda, ...) whatever
    its other markers: `cpu`, `cpu and not slow`, `cuda or ascend`. Every other marker in the
    expression is tried both ways (up to 2^8 combinations; more counts as False)."""
    from srharness.hardware import HARDWARE
    if not markexpr.strip():
        return False
    try:
        from _pytest.mark.expression import Expression     # pytest's own -m parser
        expression = Expression.compile(markexpr)
    except Exception:
        return False                    # a bad expression: pytest itself reports it; collect as usual
    others = sorted(set(_MARK_NAMES.findall(markexpr)) - {"and", "or", "not", "True", "False"} - set(HARDWARE))
    if len(others) > 8:
        return False
    for values in itertools.product((False, True), repeat=len(others)):
        present = {name for name, on in zip(others, values) if on}
        if expression.evaluate(lambda name, **kwargs: name in present):
            return False
    return True


def pytest_configure(config):
    # `pytest -m cpu` (the CPU job) would import every harness test module only to deselect it (about
    # 3 CPU-s per xdist worker): tests/ leaves the testpaths then. Paths given on the command line are
    # collected as usual. tests/test_collection.py keeps tests/ free of hardware markers.
    if config.args_source != config.ArgsSource.TESTPATHS or \
            not selects_hardware_tests_only(config.option.markexpr or ""):
        return
    kept = [a for a in config.args if Path(config.rootpath, a).resolve() != HARNESS_TESTS]
    if kept:
        config.args[:] = kept
