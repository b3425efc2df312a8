"""The root conftest skips tests/ when a `-m` expression can only select hardware-marked tests
(`pytest -m cpu`): that holds only while no harness test carries a hardware marker."""
import importlib.util
from pathlib import Path

import pytest

from srharness.hardware import HARDWARE


def _root_conftest():
    spec = importlib.util.spec_from_file_location("srharness_root_conftest", Path(__file__).parents[1] / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_harness_test_carries_a_hardware_marker(request):
    marked = [item.nodeid for item in request.session.items
              if item.nodeid.startswith("tests/") and any(item.get_closest_marker(h) for h in HARDWARE)]
    assert not marked, (f"{marked}: a harness test with a hardware marker would be skipped by `pytest -m cpu` "
                        "(conftest.pytest_configure); move it to suites/ or drop the marker")


@pytest.mark.parametrize("markexpr, skips", [
    ("cpu", True), ("cpu and not slow", True), ("cuda or ascend", True), ("(cpu or vacc) and export", True),
    ("", False), ("not slow", False), ("export or not cpu", False), ("slow", False), ("not cpu", False),
    ("cpu or slow", False), ("cpu and (", False)])
def test_which_marker_expressions_skip_the_harness_tests(markexpr, skips):
    assert _root_conftest().selects_hardware_tests_only(markexpr) is skips
