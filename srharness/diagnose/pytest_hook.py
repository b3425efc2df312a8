"""The automatic diagnosis step a failing accuracy figure triggers under pytest."""

from __future__ import annotations

from pathlib import Path

from .metrics import DIAGNOSABLE_BACKENDS
from .rendering import attach_diagnosis
from .run import DiagnoseConfig

# ------------------------------------------------------------------ the automatic step in the accuracy checks
DIAGNOSE_MODES = ("off", "localise", "repair")


def on_failed_figure(config, record, *, model: str, scale: int, backend: str, protocol: str, data_dir,
                     weights, golden_dir=None, kl_bins: int | None = None, work_dir=None, evaluations=None,
                     export_cache=None) -> dict | None:
    """Called by a check whose compiled-variant figure failed its rule. With `--sr-diagnose-on-fail
    localise|repair` (off by default: it costs about a minute, a repair a few more), runs the
    diagnosis on the same variant, attaches the per-layer table, the error-by-depth plot and the
    repair to the report, and records the repair's before/after figures as verdicts. `evaluations`,
    `export_cache`: the run's (srharness.eval_cache): the check's own figures are not measured again."""
    from srharness.settings import pytest_value
    from srharness.records import Verdict
    mode = (pytest_value(config, "sr_diagnose_on_fail") or "off").strip().lower().replace("localize", "localise")
    if mode not in DIAGNOSE_MODES:
        import pytest
        raise pytest.UsageError(f"--sr-diagnose-on-fail / SRHARNESS_DIAGNOSE_ON_FAIL: {mode!r}; "
                                f"expected one of {', '.join(DIAGNOSE_MODES)}")
    if mode == "off" or backend not in DIAGNOSABLE_BACKENDS:
        return None
    cfg = DiagnoseConfig(model=model, backend=backend, scale=scale, protocol=protocol, dataset="set5",
                         data_dir=str(data_dir) if data_dir else None, weights=str(weights) if weights else None,
                         golden_dir=str(golden_dir) if golden_dir else None, kl_bins=kl_bins,
                         work_dir=str(work_dir) if work_dir else None,
                         out_dir=str(Path(work_dir) / "diagnose") if work_dir else None)
    from srharness import diagnose as package    # looked up at call time: a test or plugin may replace it
    result = package.diagnose(cfg, repair=mode == "repair", evaluations=evaluations, export_cache=export_cache)
    attach_diagnosis(result, name=f"diagnose {model} x{scale} {backend}")
    rep = result.get("repair")
    if rep:
        common = dict(model=model, check="accuracy", metric="psnr", hardware="cpu", backend=backend,
                      precision=result["precision"], scale=scale, protocol=result["protocol"], dataset=result["dataset"],
                      golden=result["figure"]["reference_psnr"], rule=rep["rule"], unit="dB")
        record(Verdict(measured=rep["before"]["psnr"], passed=None,
                       conditions={"repair": "before", "kl_bins": kl_bins},
                       notes="diagnose: the variant as built (judged by the check itself)", **common))
        record(Verdict(measured=rep["after"]["psnr"], passed=rep["passed"],
                       conditions={"repair": "after", "option": rep["option"], "excluded_nodes": rep["excluded_nodes"],
                                   "candidates": rep["candidates"], "reruns": rep["reruns"], "kl_bins": kl_bins},
                       notes=f"diagnose --repair: {rep['excluded']} of {rep['candidates']} nodes kept in higher "
                             f"precision", **common))
        cal = rep.get("calibration")
        if cal:
            record(Verdict(measured=cal["after"]["psnr"], passed=cal["passed"],
                           conditions={"repair": "after", "option": "TensorQuantOverrides (reference KL ranges)",
                                       "tensors": cal["tensors"], "narrower_than_reference": cal["narrower_than_reference"],
                                       "excluded_nodes": [], "kl_bins": kl_bins},
                           notes="diagnose --repair: the reference KL search's ranges on the same histograms, "
                                 "no node in higher precision", **common))
    return result
