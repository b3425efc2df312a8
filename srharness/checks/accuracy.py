"""Accuracy conformance checks (issue: accuracy). Being written."""
import pytest


class AccuracyChecks:
    pytestmark = [pytest.mark.accuracy]
    model: str
    scale: int = 2
