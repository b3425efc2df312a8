"""The verdict record's semantics: what counts as a failure in the summary and the nightly."""
from srharness.records import Verdict


def _v(**kw):
    return Verdict(model="vdsr", check="accuracy", metric="psnr", measured=28.7, **kw)


def test_verdicts():
    assert _v(passed=True).verdict == "pass"
    assert _v(passed=False).verdict == "fail"
    assert _v().verdict == "info"


def test_a_failure_the_guide_also_has_is_expected_and_a_changed_finding_is_not():
    # VDSR int8 kl_divergence fails the 1% rule in the guide itself (-2.4%): reproducing that
    # is no regression; passing where the guide failed means the finding changed.
    assert _v(passed=False, expected="fail").verdict == "expected-fail"
    assert _v(passed=True, expected="fail").verdict == "xpass"   # changed finding, pytest's XPASS(strict)


def test_round_trip():
    v = _v(passed=False, expected="fail", conditions={"shape": [1, 1, 256, 256]})
    assert Verdict.from_dict(v.to_dict()) == v
