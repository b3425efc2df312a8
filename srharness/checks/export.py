"""Export conformance checks (issue: foundation). Being written."""
import pytest


class ExportChecks:
    pytestmark = [pytest.mark.export]
    model: str
    scale: int = 2
