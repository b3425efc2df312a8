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


def test_verdict_carries_its_rules_direction_and_history_reads_it():
    """`better` comes from the rule that judged the figure (a metric named like a latency may still be
    higher-is-better by its rule), else from the metric; history's compare reads only the verdict."""
    from srharness.records import Verdict
    from srharness.report.history import lower_is_better
    assert Verdict(model="m", check="perf", metric="latency_ms", measured=1.0).better == "lower"
    assert Verdict(model="m", check="accuracy", metric="psnr", measured=30.0).better == "higher"
    judged = Verdict(model="m", check="perf", metric="latency_ms", measured=1.0, better="higher")
    assert not lower_is_better(judged)
    back = Verdict.from_dict(judged.to_dict())
    assert back.better == "higher" and not lower_is_better(back)
    old = {k: v for k, v in judged.to_dict().items() if k != "better"}       # a summary written before the field
    assert Verdict.from_dict(old).better == "lower"
