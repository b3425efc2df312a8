"""CPU performance checks (issue: hardware backends and performance). Being written."""
import pytest


class PerfChecks:
    pytestmark = [pytest.mark.perf]
    model: str
    scale: int = 2
