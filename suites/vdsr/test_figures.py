"""VDSR: every golden figure of golden/vdsr.yaml as one test item, measured through the generic
pipeline (srharness.figures) on the hardware of its backend and judged with its own rule."""
from srharness.checks.figures import GoldenFigures


class TestFigures(GoldenFigures):
    models = ("vdsr",)
