"""One test item per golden figure, generated from golden/*.yaml (srharness.figures).

A suite lists its models once; pytest collects one item per figure of theirs, with the hardware
marker of the figure's backend and the check marker of its metric, so `pytest -m cpu`,
`pytest -m "cpu and accuracy" suites/vdsr` and `pytest -m vacc suites/vdsr` select them:

    class TestFigures(GoldenFigures):          # suites/vdsr/test_figures.py
        models = ("vdsr",)

Item ids are the figure ids (`test_figure[vdsr/x4/set5/psnr/vacc-fp16]`). Each item ends in
exactly one verdict with the figure's golden_id: pass, fail, expected-fail, or not judged with
its reason (the item then skips with that reason; one whose card is absent is recorded by the
plugin's hardware skip).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest

FIGURE_PARAM = "sr_figure"


@lru_cache(maxsize=None)
def _goldens(golden_dir: str):
    from srharness.golden import load_goldens
    return load_goldens(golden_dir)


def _golden_dir(config) -> Path:
    from srharness.resources import pytest_golden_dir
    return pytest_golden_dir(config)


_ENVS: dict = {}


class GoldenFigures:
    models: tuple[str, ...] = ()

    def pytest_generate_tests(self, metafunc):
        if FIGURE_PARAM not in metafunc.fixturenames:
            return
        from srharness.figures import figure_check, figure_hardware
        goldens = _goldens(str(_golden_dir(metafunc.config)))
        params = []
        for g in self.figures(goldens):
            marks = [getattr(pytest.mark, figure_hardware(g)), getattr(pytest.mark, figure_check(g))]
            params.append(pytest.param(g.id, marks=marks, id=g.id))
        metafunc.parametrize(FIGURE_PARAM, params)

    def figures(self, goldens) -> list:
        """The figures this class measures: those of its models (a suite may choose otherwise)."""
        from srharness.figures import figures_of
        return figures_of(goldens, self.models)

    @pytest.fixture(scope="class")
    @classmethod
    def sr_figure_env(cls, sr_data_dir, sr_weights_dir, sr_export_cache, sr_evaluations, tmp_path_factory):
        """Shared by every figure of the session; evaluations through the shared evaluation cache
        (`sr_evaluations`): made once per machine and inputs, for every figure and check that needs it."""
        from srharness.figures import FigureEnv
        key = (sr_data_dir, sr_weights_dir)
        if key not in _ENVS:
            _ENVS[key] = FigureEnv(sr_data_dir, sr_weights_dir, tmp_path_factory.mktemp("figures"),
                                   export_cache=sr_export_cache, evaluations=sr_evaluations)
        return _ENVS[key]

    def test_figure(self, sr_figure, sr_figure_env, sr_golden_dir, sr_record):
        from srharness import report
        from srharness.figures import measure_figure
        goldens = _goldens(str(sr_golden_dir))
        g = goldens.get(sr_figure)
        try:
            verdict = sr_record(measure_figure(g, sr_figure_env, goldens))
        except Exception as exc:    # a broken measurement (tool error, NaN) is the figure's fail
            from dataclasses import replace

            from srharness.figures import not_judged
            broken = replace(not_judged(g, ""), not_judged=None, passed=False,
                             notes=f"measurement failed: {type(exc).__name__}: {exc}")
            sr_record(broken)
            raise
        report.label(model=g.model, check=verdict.check, backend=verdict.backend, precision=verdict.precision,
                     hardware=verdict.hardware)
        if verdict.not_judged:
            pytest.skip(f"not judged: {verdict.not_judged}")
        report.title(f"{g.id}: {verdict.notes}")
        assert verdict.verdict in ("pass", "expected-fail"), f"{g.id}: {verdict.notes}"


def record_not_run(item, reason: str) -> None:
    """A figure item skipped before its test ran (its card is absent: the plugin's hardware skip)
    still ends in its one verdict: not judged, with the skip's reason."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or FIGURE_PARAM not in callspec.params:
        return
    from srharness.figures import not_judged
    from srharness.records import VERDICT_PROPERTY
    g = _goldens(str(_golden_dir(item.config))).get(callspec.params[FIGURE_PARAM])
    item.user_properties.append((VERDICT_PROPERTY, not_judged(g, f"no card: {reason}").to_json()))
