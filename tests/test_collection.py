"""The root conftest skips tests/ when a `-m` expression can only select hardware-marked tests
(`pytest -m cpu`): that holds only while no harness test carries a hardware marker."""
import pytest

from srharness.hardware import HARDWARE


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
    from conftest import selects_hardware_tests_only
    assert selects_hardware_tests_only(markexpr) is skips
