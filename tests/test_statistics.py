"""One agreement statistic per name (srharness.statistics), named by each floor of
srharness/tolerances.yaml, and the callers take it from there."""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from srharness import statistics
from srharness.tolerances import ToleranceError, load_tolerances, tolerance

ROOT = Path(__file__).resolve().parents[1] / "srharness"


def _pair(seed, noise):
    rng = np.random.default_rng(seed)
    ref = rng.random((1, 3, 8, 8)).astype(np.float32)
    return ref + np.float32(noise) * rng.standard_normal(ref.shape).astype(np.float32), ref


def test_pooling_is_what_the_name_says():
    (o1, r1), (o2, r2) = _pair(0, 0.001), _pair(1, 0.03)
    per = statistics.per_pair_psnr([o1, o2], [r1, r2], 1.0)
    mse = [np.mean((o.astype(np.float64) - r) ** 2) for o, r in ((o1, r1), (o2, r2))]
    assert per == pytest.approx([10 * math.log10(1 / m) for m in mse])
    assert statistics.worst_psnr([o1, o2], [r1, r2], 1.0) == pytest.approx(min(per))
    # pooled: one MSE over both pairs, between the two per-pair figures, not their min nor mean
    assert statistics.pooled_psnr([o1, o2], [r1, r2], 1.0) == pytest.approx(10 * math.log10(1 / np.mean(mse)))
    # the model's range: the same outputs scaled by 255 on a 255 range give the same figure
    assert statistics.worst_psnr([o1 * 255], [r1 * 255], 255.0) == pytest.approx(per[0])


@pytest.mark.parametrize("name", sorted(statistics.STATISTICS))
def test_a_nan_agrees_with_nothing_whatever_its_place(name):
    stat = statistics.statistic(name)
    (o1, r1), (o2, r2) = _pair(0, 0.001), _pair(1, 0.001)
    bad = o2.copy()
    bad[0, 0, 0, 0] = np.nan
    assert stat([o1, bad], [r1, r2], 1.0) == -math.inf
    assert stat([bad, o1], [r2, r1], 1.0) == -math.inf       # a plain min() of NaNs depends on order
    assert stat([o1[:, :, :4]], [r1], 1.0) == -math.inf      # mis-shaped
    assert stat([r1], [r1], 1.0) == math.inf                  # identical


def test_each_agreement_floor_names_its_statistic():
    named = {n: t.statistic for n, t in load_tolerances().items() if t.statistic}
    assert named == {"agreement": "pooled_psnr", "fidelity": "worst_psnr", "gpu_agreement": "worst_psnr",
                     "tiled_agreement": "worst_psnr"}
    (o1, r1), (o2, r2) = _pair(0, 0.001), _pair(1, 0.03)
    assert tolerance("agreement").measure([o1, o2], [r1, r2], 1.0) == statistics.pooled_psnr([o1, o2], [r1, r2], 1.0)
    assert tolerance("fidelity").measure([o1, o2], [r1, r2], 1.0) == statistics.worst_psnr([o1, o2], [r1, r2], 1.0)


def test_an_unknown_statistic_names_the_file_and_key(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text("x:\n  statistic: mean_psnr\n  rule: floor\n  values: {fp32: 1.0}\n  rationale: r\n")
    with pytest.raises(ToleranceError, match=r"t\.yaml: x: statistic 'mean_psnr' is not one of pooled_psnr"):
        load_tolerances(str(bad))
    with pytest.raises(statistics.StatisticError, match="no agreement statistic 'nope'"):
        statistics.statistic("nope")


@pytest.mark.parametrize("path", ["checks/hardware.py", "checks/gpu.py", "checks/accuracy.py", "checks/__init__.py",
                                  "perf_gpu"])
def test_agreement_callers_compute_no_psnr_of_their_own(path):
    """They take the statistic from the tolerance's name: no PSNR formula, no metrics.psnr, no
    floor table of their own."""
    where = ROOT / path       # a module, or a package: all of its modules
    text = "".join(f.read_text() for f in sorted(where.glob("*.py"))) if where.is_dir() else where.read_text()
    assert text and not re.search(r"\bpsnr\(|log10\(|AGREEMENT_FLOOR_DB\s*=|\bagreement_(db|psnr)\b", text), path


def test_the_fidelity_checks_judge_with_one_ending():
    """checks/accuracy (CPU) and checks/gpu end in ModelChecks.judge_agreement: the worst image by
    the floor's statistic, each image's PSNR in the verdict, the assert below the floor."""
    from srharness.checks import ModelChecks

    class Checks(ModelChecks):
        model, scale = "srcnn", 2
    (o1, r1), (o2, r2) = _pair(0, 0.001), _pair(1, 0.03)
    recorded = []
    kw = dict(what="fidelity ort-fp16 vs torch fp32", reference="torch fp32", backend="ort-fp16", precision="fp16",
              hardware="cpu", metric="psnr_vs_torch", rule=">= 20 dB (floor)", dataset="embedded",
              conditions={"shape": [8, 8]}, details={"providers": ["CPUExecutionProvider"]})
    Checks().judge_agreement(recorded.append, [o1, o2], [r1, r2], tolerance("fidelity"), floor=20.0, **kw)
    v, = recorded
    assert v.passed and v.measured == statistics.worst_psnr([o1, o2], [r1, r2], 1.0) and v.golden == 20.0
    assert list(v.conditions) == ["shape", "per_image_db", "providers"]
    assert v.conditions["per_image_db"] == [round(s, 3) for s in statistics.per_pair_psnr([o1, o2], [r1, r2], 1.0)]
    with pytest.raises(AssertionError, match="srcnn ort-fp16: output PSNR vs torch fp32 .* below the 60 dB floor"):
        Checks().judge_agreement(recorded.append, [o1, o2], [r1, r2], tolerance("fidelity"), floor=60.0, **kw)
    assert recorded[-1].passed is False
