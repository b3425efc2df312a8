"""The golden schema and the rule engine, checked against the guides' own published decisions."""
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from srharness.cli import main as cli_main
from srharness.golden import GoldenError, Rule, load_file, load_goldens

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"


@pytest.fixture(scope="module")
def goldens():
    return load_goldens(GOLDEN_DIR)


# ---------------------------------------------------------------- the guides' published pairs
@pytest.mark.parametrize("figure,reference,expected", [
    # SRCNN om vs original repo, per image and mean (guide 001: all within 1%)
    ("srcnn/x2/set5-256/psnr/ascend-om/woman", "srcnn/x2/set5-256/psnr/repo/woman", True),
    ("srcnn/x2/set5-256/psnr/ascend-om/bird", "srcnn/x2/set5-256/psnr/repo/bird", True),
    ("srcnn/x2/set5-256/psnr/ascend-om/head", "srcnn/x2/set5-256/psnr/repo/head", True),
    ("srcnn/x2/set5-256/psnr/ascend-om/baby", "srcnn/x2/set5-256/psnr/repo/baby", True),
    ("srcnn/x2/set5-256/psnr/ascend-om/butterfly", "srcnn/x2/set5-256/psnr/repo/butterfly", True),
    ("srcnn/x2/set5-256/psnr/ascend-om", "srcnn/x2/set5/psnr/repo-readme", True),
    # RDN 38.27 vs 38.18 (guide 002)
    ("rdn/x2/set5/psnr/ascend-om", "rdn/x2/set5/psnr/repo", True),
    # RCAN training 37.815 vs 38.12 (guide 003)
    ("rcan-training/x2/set5/psnr/npu-8p", "rcan-training/x2/set5/psnr/gpu-8p", True),
    # VDSR vacc int8 30.219 vs torch 30.958: -2.4%, fails; fp16 30.956 passes (guide 004)
    ("vdsr/x4/set5/psnr/vacc-int8-kl", "vdsr/x4/set5/psnr/vacc-guide-torch", False),
    ("vdsr/x4/set5/psnr/vacc-fp16", "vdsr/x4/set5/psnr/vacc-guide-torch", True),
    # perf floors: 310 card vs T4 (1392.152 > 1163.108; 29.577 > 25.393; 3.76 before the fix fails)
    ("srcnn/x2/perf/fps/ascend310-card", "srcnn/x2/perf/fps/t4-trtexec-fp16", True),
    ("rdn/x2/perf/fps/ascend310-card", "rdn/x2/perf/fps/t4-trtexec-fp16", True),
    ("rdn/x2/perf/fps/ascend310-card-before-transpose-fix", "rdn/x2/perf/fps/t4-trtexec-fp16", False),
])
def test_rule_engine_reproduces_the_guides_verdicts(goldens, figure, reference, expected):
    result = goldens.get(reference).judge(goldens.get(figure).value)
    assert result.passed is expected, result.text


def test_vdsr_int8_gap_is_reported_as_minus_2_4_percent(goldens):
    r = goldens.get("vdsr/x4/set5/psnr/vacc-guide-torch").judge(30.219)
    assert r.relative == pytest.approx(-0.02387, abs=1e-4)
    assert "-2.39%" in r.text and "FAIL" in r.text


def test_every_recorded_pair_matches_its_expected_verdict(goldens):
    pairs = goldens.pairs()
    assert len(pairs) >= 15
    for figure, reference in pairs:
        assert reference.judge(figure.value).passed is (figure.expected_verdict == "pass"), figure.id


def test_every_golden_has_provenance_and_a_stated_rule(goldens):
    for g in goldens:
        assert g.provenance, g.id
        assert g.rule.describe(g.unit), g.id
        assert g.id.startswith(g.model + "/"), f"{g.id}: id must start with its model {g.model}"


def test_every_golden_names_a_registered_model(goldens):
    from srharness.models import MODELS
    assert {g.model for g in goldens} <= set(MODELS)


# ---------------------------------------------------------------- rule semantics
def test_relative_one_sided_allows_any_gain_and_limits_the_loss():
    rule = Rule("relative", 0.01, "one-sided", "higher")
    assert rule.judge(50.0, 38.0).passed
    assert rule.judge(38.0 * 0.99, 38.0).passed          # exactly at the bound
    assert not rule.judge(38.0 * 0.989, 38.0).passed


def test_relative_two_sided_limits_both_directions():
    rule = Rule("relative", 0.01, "two-sided")
    assert rule.judge(38.3, 38.0).passed
    assert not rule.judge(38.5, 38.0).passed
    assert not rule.judge(37.5, 38.0).passed


def test_absolute_and_lower_is_better():
    assert Rule("absolute", 0.05, "two-sided").judge(37.63, 37.59).passed
    assert not Rule("absolute", 0.05, "two-sided").judge(37.65, 37.59).passed
    latency = Rule("relative", 0.10, "one-sided", "lower")
    assert latency.judge(50.0, 100.0).passed
    assert latency.judge(109.0, 100.0).passed
    assert not latency.judge(111.0, 100.0).passed


def test_exceeds_is_strict_and_none_never_judges():
    assert not Rule("exceeds").judge(25.393, 25.393).passed
    assert Rule("exceeds").judge(25.394, 25.393).passed
    assert Rule("exceeds", better="lower").judge(1.0, 2.0).passed
    assert Rule("none").judge(1.0, 2.0).passed is None


def test_nan_measurement_is_an_error_not_a_verdict():
    with pytest.raises(ValueError, match="NaN"):
        Rule().judge(float("nan"), 1.0)


@given(st.floats(0.1, 1e4), st.floats(0.0, 0.5), st.floats(-1, 1))
def test_relative_one_sided_matches_its_definition(golden, tol, rel):
    measured = golden * (1 + rel)
    result = Rule("relative", tol, "one-sided").judge(measured, golden)
    if abs(rel + tol) > 1e-9:  # away from the exact boundary
        assert result.passed is (rel >= -tol)


@given(st.floats(0.1, 1e4), st.floats(0.0, 0.5), st.floats(-1, 1))
def test_two_sided_is_symmetric(golden, tol, rel):
    rule = Rule("relative", tol, "two-sided")
    up, down = rule.judge(golden * (1 + rel), golden), rule.judge(golden * (1 - rel), golden)
    if abs(abs(rel) - tol) > 1e-9:
        assert up.passed is down.passed


# ---------------------------------------------------------------- schema errors name file and fix
GOOD = """\
model: rdn
defaults:
  rule: {type: relative, tolerance: 0.01, sides: one-sided}
figures:
  - id: rdn/x2/set5/psnr/repo
    metric: psnr
    unit: dB
    value: 38.18
    source: {document: seeds/002.txt}
"""


@pytest.mark.parametrize("text,message", [
    (GOOD.replace("value: 38.18", "valeu: 38.18"), "unknown key 'valeu' (did you mean 'value'?)"),
    (GOOD.replace("    value: 38.18\n", ""), "missing required key(s) value"),
    (GOOD.replace("value: 38.18", "value: 38.18dB"), "'value' must be int or float"),
    (GOOD.replace("type: relative", "type: percent"), "rule type 'percent' is not one of"),
    (GOOD.replace("tolerance: 0.01", "tolerance: 1"), "write 0.01 for 1%"),
    (GOOD.replace("tolerance: 0.01, ", ""), "needs a tolerance"),
    (GOOD.replace("sides: one-sided", "sides: one sided"), "rule sides 'one sided'"),
    (GOOD.replace("{document: seeds/002.txt}", "{url: x}"), "source must name a 'document'"),
    (GOOD.replace("figures:", "figure:"), "unknown top-level key(s) 'figure'"),
    (GOOD + "  - [1, 2]\n", "each figure is a mapping"),
    ("model: rdn\nfigures: [\n", "not valid YAML"),
])
def test_malformed_golden_gives_a_clear_error(tmp_path, text, message):
    path = tmp_path / "rdn.yaml"
    path.write_text(text)
    with pytest.raises(GoldenError) as exc:
        load_file(path)
    assert str(path) in str(exc.value)
    assert message in str(exc.value)


def test_duplicate_ids_and_dangling_references_are_refused(tmp_path):
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    with pytest.raises(GoldenError, match="duplicate golden id"):
        load_goldens(tmp_path)
    (tmp_path / "b.yaml").write_text(GOOD.replace("rdn/x2/set5/psnr/repo", "rdn/x2/set5/psnr/om") +
                                     "    compared_with: rdn/x2/set5/psnr/rep\n    expected_verdict: pass\n")
    with pytest.raises(GoldenError, match="did you mean rdn/x2/set5/psnr/repo"):
        load_goldens(tmp_path)


def test_golden_check_cli(tmp_path, capsys):
    assert cli_main(["golden", "check", str(GOLDEN_DIR)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("unit: dB", "units: dB"))
    assert cli_main(["golden", "check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "units" in out and str(bad) in out


def test_golden_judge_cli_exit_code(capsys):
    assert cli_main(["golden", "judge", "--golden-dir", str(GOLDEN_DIR),
                     "vdsr/x4/set5/psnr/vacc-guide-torch", "30.219"]) == 1
    assert cli_main(["golden", "judge", "--golden-dir", str(GOLDEN_DIR),
                     "vdsr/x4/set5/psnr/vacc-guide-torch", "30.956"]) == 0
