"""Matrix cells, the coverage account, XPASS, run history and the regression rule (`--sr-compare-fail`),
down to the must-show: an injected regression that stays inside its golden's 1% rule turns
`srharness nightly` red with the figure named."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from srharness.records import Verdict
from srharness.report import history, matrix, page

ROOT = Path(__file__).resolve().parents[1]


def V(**kw) -> Verdict:
    base = dict(model="vdsr", check="accuracy", metric="psnr", measured=37.6, hardware="cpu", backend="torch",
                scale=2, protocol="benchmark", dataset="set5", unit="dB")
    return Verdict(**{**base, **kw})


# ---------------------------------------------------------------- matrix and coverage
def test_cell_state_precedence_and_counts():
    cells = {(c["model"], c["hardware"], c["check"]): c for c in matrix.matrix_cells([
        V(passed=True, golden=37.65, golden_id="a"), V(passed=False, golden=37.65, golden_id="b", scale=3),
        V(model="rdn", passed=True, golden_id="c"), V(model="rdn", not_judged="no official RDN weights",
                                                      golden_id="d", measured=None),
        V(model="rcan", not_judged="no card", golden_id="e", measured=None, hardware="vacc"),
        V(model="srcnn", passed=True, expected="fail"), V(model="srcnn", passed=True, scale=3),
        V(model="espcn", passed=False, expected="fail"), V(model="espcn", passed=True, scale=3),
        V(model="srcnn", check="perf", metric="fps", measured=10.0, unit="fps"),
    ])}
    assert cells["vdsr", "cpu", "accuracy"]["state"] == "fail"
    assert (cells["vdsr", "cpu", "accuracy"]["judged"], cells["vdsr", "cpu", "accuracy"]["selected"]) == (2, 2)
    rdn = cells["rdn", "cpu", "accuracy"]
    assert rdn["state"] == "pass" and (rdn["judged"], rdn["selected"]) == (1, 2)   # partly judged: 1/2
    assert cells["rcan", "vacc", "accuracy"]["state"] == "not-judged"
    assert cells["srcnn", "cpu", "accuracy"]["state"] == "xpass"             # a changed finding outranks a pass
    assert cells["espcn", "cpu", "accuracy"]["state"] == "expected-fail"
    perf = cells["srcnn", "cpu", "perf"]
    assert perf["state"] == "info" and perf["selected"] == 0 and perf["figures"] == 1


def test_a_cell_whose_published_figures_were_never_judged_is_not_green():
    plumbing = V(model="rdn", backend="bicubic", protocol="rdn-yjn870", passed=True, rule="within 15..60 dB")
    never = V(model="rdn", golden_id="rdn/x2/set5/psnr/repo", not_judged="no official RDN weights", measured=None)
    cell = matrix.matrix_cells([plumbing, plumbing, never])[0]
    assert cell["state"] == "not-judged" and (cell["judged"], cell["selected"]) == (0, 1)
    assert matrix.matrix_cells([plumbing])[0]["state"] == "pass"          # no published figure there at all
    assert matrix.matrix_cells([plumbing, never, V(model="rdn", passed=False)])[0]["state"] == "fail"


def test_coverage_account_lists_each_figure_not_judged_with_why():
    vs = [V(passed=True, golden_id="vdsr/x2"),
          V(model="rdn", golden_id="rdn/x2/om", not_judged="no Ascend card (npu-smi not found)", measured=None,
            hardware="ascend", backend="ascend-om"),
          V(model="rcan", golden_id="rcan/x4", not_judged="no official RCAN weights", measured=None, scale=4)]
    account = matrix.coverage_account(vs)
    assert [(d["golden_id"], d["reason"]) for d in account] == [
        ("rcan/x4", "no official RCAN weights"), ("rdn/x2/om", "no Ascend card (npu-smi not found)")]
    totals = matrix.coverage_totals(vs)
    assert totals["selected"] == 3 and totals["judged"] == 1 and totals["not_judged"] == 2
    html = page.matrix_page_html(matrix.summary_document(vs, {}, 0, identity={"host": "h"}))
    assert "Coverage: 2 golden figure(s) not judged" in html and "no official RCAN weights" in html
    assert "1/3 golden figures judged" in html


def test_xpass_is_a_changed_finding():
    xpass = V(passed=True, expected="fail")
    assert xpass.verdict == "xpass"
    assert V(passed=False, expected="fail").verdict == "expected-fail"
    assert matrix.changed_findings([xpass, V(passed=True)]) == [xpass]
    assert matrix.figure_counts([xpass])["xpass"] == 1


def test_figure_key_is_stable_and_complete():
    key = matrix.figure_key(V(image="baby"))
    assert key == "vdsr|accuracy|psnr|cpu|torch|fp32|x2|benchmark|set5|baby"
    assert matrix.figure_key(V(image="baby").to_dict()) == key
    assert matrix.figure_key(V(scale=3)) != matrix.figure_key(V())


# ---------------------------------------------------------------- the regression rule
def test_rule_parsing():
    rules = history.parse_compare_rules("fps:10%, psnr:0.05dB,latency*:2ms")
    assert rules == [history.CompareRule("fps", 0.10, True), history.CompareRule("psnr", 0.05, False, "dB"),
                     history.CompareRule("latency*", 2.0, False, "ms")]
    for bad in ("fps", "fps:ten%", "fps:10%%", ":5%", ""):
        with pytest.raises(history.CompareError, match="regression rule"):
            history.parse_compare_rules(bad)


@pytest.mark.parametrize("new_fps,status", [(91.0, "unchanged"), (90.0, "unchanged"), (89.9, "regressed"),
                                            (70.0, "regressed"), (120.0, "improved")])
def test_fps_rule_ten_percent(new_fps, status):
    base = [V(check="perf", metric="fps", measured=100.0, unit="fps", protocol=None, dataset=None)]
    new = [V(check="perf", metric="fps", measured=new_fps, unit="fps", protocol=None, dataset=None)]
    rows = history.compare_verdicts(base, new, history.parse_compare_rules("fps:10%"))
    assert [r["status"] for r in rows] == [status]


@pytest.mark.parametrize("new_psnr,status", [(37.56, "unchanged"), (37.55, "unchanged"), (37.54, "regressed"),
                                             (37.50, "regressed"), (37.7, "improved")])
def test_psnr_rule_five_hundredths_db(new_psnr, status):
    rows = history.compare_verdicts([V(measured=37.60, passed=True)], [V(measured=new_psnr, passed=True)],
                                    history.parse_compare_rules("psnr:0.05dB"))
    assert [r["status"] for r in rows] == [status]


def test_latency_is_lower_is_better_and_units_must_match():
    base = [V(check="perf", metric="latency_ms", measured=10.0, unit="ms")]
    rows = history.compare_verdicts(base, [V(check="perf", metric="latency_ms", measured=12.0, unit="ms")],
                                    history.parse_compare_rules("latency*:10%"))
    assert rows[0]["status"] == "regressed"
    rows = history.compare_verdicts(base, [V(check="perf", metric="latency_ms", measured=8.0, unit="ms")],
                                    history.parse_compare_rules("latency*:10%"))
    assert rows[0]["status"] == "improved"
    with pytest.raises(history.CompareError, match="given in dB"):
        history.compare_verdicts(base, base, history.parse_compare_rules("latency_ms:1dB"))


def test_perf_measured_beside_other_work_is_not_judged_by_the_rule():
    base = [V(check="perf", metric="fps", measured=10.0, unit="fps")]
    busy = [V(check="perf", metric="fps", measured=5.0, unit="fps",
              conditions={history.CONCURRENT_KEY: "measured while 1 other xdist worker could run"})]
    rows = history.compare_verdicts(base, busy, history.parse_compare_rules("fps:10%"))
    assert rows[0]["status"] == "not-comparable"


def test_verdict_change_new_and_gone():
    rows = history.compare_verdicts([V(passed=True), V(scale=4, passed=True)],
                                    [V(passed=False), V(scale=3, passed=True)])
    assert {r["figure"].split("|")[6]: r["status"] for r in rows} == {"x2": "verdict-changed", "x4": "gone",
                                                                      "x3": "new"}


# ---------------------------------------------------------------- history
def _summary(verdicts, timestamp, host="h1", hw="cpu"):
    doc = matrix.summary_document(verdicts, {}, 0, identity={"timestamp": timestamp, "host": host,
                                                             "hardware_key": hw, "git": "abc123def"})
    return doc


def test_archive_keeps_every_run_and_finds_the_previous_on_the_same_host(tmp_path):
    a = history.archive_summary(_summary([V(measured=37.6, golden=37.65), V(measured=30.0, backend="bicubic")],
                                         "2026-01-01T00:00:00Z"), tmp_path)
    history.archive_summary(_summary([V(measured=30.0)], "2026-01-01T12:00:00Z", host="other"), tmp_path)
    history.archive_summary(_summary([V(measured=31.0)], "2026-01-01T13:00:00Z", hw="cpu+cuda"), tmp_path)
    b = history.archive_summary(_summary([V(measured=37.5, golden=37.65)], "2026-01-02T00:00:00Z"), tmp_path)
    again = history.archive_summary(_summary([V(measured=37.5)], "2026-01-02T00:00:00Z"), tmp_path)
    assert a != b != again and len(list((tmp_path / "runs").glob("*.json"))) == 5
    assert a.name == "20260101T000000Z-h1-abc123de.json"
    current = history.load_summary(b)
    prev = history.previous_run(tmp_path, current["identity"], before=b)
    assert prev is not None and prev[0] == a            # not the other host's run, nor the other hardware's
    series = history.trend_series([history.load_summary(a), current])
    # the golden-judged PSNR has a trend; the bicubic plumbing figure (no golden) is no key figure
    assert list(series.values()) == [[("2026-01-01T00:00:00Z", 37.6), ("2026-01-02T00:00:00Z", 37.5)]]
    assert page.trend_png([history.load_summary(a), current])[:4] == b"\x89PNG"


def test_compare_cli_names_the_regressed_figure(tmp_path, capsys):
    from srharness.cli import main
    history.archive_summary(_summary([V(measured=37.60, passed=True)], "2026-01-01T00:00:00Z"), tmp_path)
    history.archive_summary(_summary([V(measured=37.50, passed=True)], "2026-01-02T00:00:00Z"), tmp_path)
    rc = main(["compare", "--history", str(tmp_path), "--fail", "psnr:0.05dB"])
    out = capsys.readouterr().out
    assert rc == 1, out
    assert "vdsr x2 cpu torch fp32 benchmark psnr 37.6 -> 37.5 dB (-0.1, -0.3%): REGRESSION (rule psnr" in out
    assert main(["compare", "--history", str(tmp_path), "--fail", "psnr:0.2dB", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["regressions"] == 0 and doc["rows"][0]["delta"] == pytest.approx(-0.1)
    assert main(["compare", "--history", str(tmp_path / "none")]) == 2
    assert "no archived runs" in capsys.readouterr().err


# ---------------------------------------------------------------- the must-show, through srharness nightly
REGRESSION_DEMO = '''
import os, pytest
from srharness.golden import Rule
from srharness.records import Verdict

GOLDEN = 37.65       # VDSR x2 Set5 (benchmark); rule: relative 1%, one-sided

@pytest.mark.cpu
@pytest.mark.accuracy
class TestAccuracy:
    model = "vdsr"
    def test_psnr(self, sr_record):
        measured = 37.59 - float(os.environ.get("DEMO_PSNR_DROP_DB", "0"))
        r = Rule().judge(measured, GOLDEN, "dB")
        sr_record(Verdict(model="vdsr", check="accuracy", metric="psnr", measured=measured, golden=GOLDEN,
                          golden_id="vdsr/x2/set5/psnr", rule=Rule().describe("dB"), passed=r.passed, scale=2,
                          protocol="benchmark", dataset="set5", unit="dB"))
        assert r.passed, r.text

@pytest.mark.cpu
@pytest.mark.perf
class TestPerf:
    model = "srcnn"
    def test_fps(self, sr_record):
        fps = 10.0 * float(os.environ.get("DEMO_FPS_FACTOR", "1"))
        sr_record(Verdict(model="srcnn", check="perf", metric="fps", measured=fps, unit="fps", scale=2))
'''


def _nightly_project(tmp_path: Path, **config) -> Path:
    import yaml
    (tmp_path / "conftest.py").write_text('pytest_plugins = ("srharness.plugin", "srharness.report")\n')
    (tmp_path / "test_demo.py").write_text(REGRESSION_DEMO)
    path = tmp_path / "nightly.yaml"
    path.write_text(yaml.safe_dump({"suites": ["test_demo.py"], "require": ["cpu"], "out_dir": "out",
                                    "compare_fail": "fps:10%,psnr:0.05dB", **config}))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("injected,named", [
    ({"DEMO_PSNR_DROP_DB": "0.1"}, "vdsr x2 cpu torch fp32 benchmark psnr 37.59 -> 37.49 dB"),
    ({"DEMO_FPS_FACTOR": "0.7"}, "srcnn x2 cpu torch fp32 fps 10 -> 7 fps"),
])
def test_injected_regression_turns_the_nightly_red_with_the_figure_named(tmp_path, monkeypatch, capsys, injected,
                                                                          named):
    from srharness import nightly
    cfg = nightly.load_config(_nightly_project(tmp_path))
    for name in ("DEMO_PSNR_DROP_DB", "DEMO_FPS_FACTOR"):
        monkeypatch.delenv(name, raising=False)
    assert nightly.run_nightly(cfg, generate=False) == 0          # last night: green, archived
    for name, value in injected.items():
        monkeypatch.setenv(name, value)
    assert nightly.run_nightly(cfg, generate=False) == 1          # tonight: still inside the golden's 1% ...
    out = capsys.readouterr().out
    summary = json.loads(cfg.summary_json.read_text())
    assert summary["figures"]["fail"] == 0                        # ... so no golden rule failed,
    regression = [f for f in summary["nightly"]["failures"] if f.startswith("regression:")]
    assert len(regression) == 1 and named in regression[0], summary["nightly"]["failures"]   # the rule did
    assert "REGRESSION" in regression[0] and named in out
    assert len(list((cfg.history_dir / "runs").glob("*.json"))) == 2
    page_html = (cfg.out_dir / nightly.MATRIX_PAGE).read_text()
    assert "1 regression(s) vs the previous run" in page_html and "Trends over the last 2 runs" in page_html


@pytest.mark.slow
def test_require_figures_fails_on_a_figure_not_judged(tmp_path):
    (tmp_path / "conftest.py").write_text('pytest_plugins = ("srharness.plugin", "srharness.report")\n')
    (tmp_path / "test_cov.py").write_text('''
import pytest
from srharness.records import Verdict

@pytest.mark.cpu
def test_not_judged(sr_record):
    sr_record(Verdict(model="rdn", check="accuracy", metric="psnr", measured=None, golden_id="rdn/x2/set5",
                      not_judged="no official RDN weights in the weights dir"))
''')
    base = [sys.executable, "-m", "pytest", "test_cov.py", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
            f"--sr-summary-json={tmp_path / 's.json'}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRHARNESS_")}
    assert subprocess.run(base, cwd=tmp_path, capture_output=True, text=True, env=env).returncode == 0
    proc = subprocess.run(base + ["--sr-require-figures"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert proc.returncode == 1, proc.stdout
    assert "1 required golden figure(s) not judged" in proc.stdout
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["not_judged"][0]["reason"] == "no official RDN weights in the weights dir"
    proc = subprocess.run(base, cwd=tmp_path, capture_output=True, text=True,
                          env={**env, "SRHARNESS_REQUIRE_FIGURES": "1"})
    assert proc.returncode == 1, proc.stdout


def test_expected_failure_is_xfail_and_an_unexpected_pass_is_strict_xpass(tmp_path):
    (tmp_path / "conftest.py").write_text('pytest_plugins = ("srharness.plugin", "srharness.report")\n')
    (tmp_path / "test_x.py").write_text('''
import pytest
from srharness.records import Verdict

@pytest.mark.cpu
@pytest.mark.parametrize("passed", [False, True])
def test_int8_kl(sr_record, passed):
    sr_record(Verdict(model="vdsr", check="accuracy", metric="psnr", measured=30.2, golden=30.96, passed=passed,
                      expected="fail", backend="ort-int8-entropy", precision="int8", scale=2))
''')
    proc = subprocess.run([sys.executable, "-m", "pytest", "test_x.py", "-p", "no:cacheprovider", "-rxXf",
                           "--rootdir", str(tmp_path), f"--sr-summary-json={tmp_path / 's.json'}"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout
    assert "1 failed, 1 xfailed" in proc.stdout
    assert "[XPASS(strict)] changed finding" in proc.stdout
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["figures"]["xpass"] == 1 and summary["figures"]["expected-fail"] == 1
    assert summary["tests"]["xfailed"] == 1 and summary["tests"]["failed"] == 1


# ---------------------------------------------------------------- bench --fail-unstable
def test_bench_fail_unstable_exits_nonzero_above_the_cv_threshold(capsys):
    from srharness.cli import main
    args = ["bench", "srcnn", "--backend", "ort", "--shape", "16x16", "--iterations", "5", "--min-seconds", "0.05",
            "--warmup", "1"]
    assert main(args + ["--unstable-cv", "0.000001"]) == 0            # flagged, but not asked to fail
    assert "UNSTABLE" in capsys.readouterr().out
    assert main(args + ["--unstable-cv", "0.000001", "--fail-unstable", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["exit_code"] == 1
    assert main(args + ["--unstable-cv", "1000", "--fail-unstable"]) == 0


# ---------------------------------------------------------------- perf tests run alone under xdist
ISOLATION_DEMO = '''
import json, os, time, pytest
from srharness.records import Verdict

def _log(tmp, name, start, stop):
    with open(os.path.join(tmp, name + "-" + os.environ["PYTEST_XDIST_WORKER"] + ".json"), "w") as fh:
        json.dump([start, stop], fh)

@pytest.mark.cpu
@pytest.mark.parametrize("i", range(6))
def test_other_work(i):
    start = time.time(); time.sleep(0.4); _log(os.environ["DEMO_DIR"], f"other{i}", start, time.time())

@pytest.mark.cpu
@pytest.mark.perf
class TestPerf:
    model = "srcnn"
    def test_fps(self, sr_record):
        start = time.time(); time.sleep(0.8)
        _log(os.environ["DEMO_DIR"], "perf", start, time.time())
        sr_record(Verdict(model="srcnn", check="perf", metric="fps", measured=10.0, unit="fps"))
'''


def _run_demo(tmp_path, source: str, **env_extra) -> dict:
    """The demo project under `pytest -n 2` in a fresh process; its logged spans by file stem."""
    (tmp_path / "conftest.py").write_text('pytest_plugins = ("srharness.plugin", "srharness.report")\n')
    (tmp_path / "test_iso.py").write_text(source)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SRHARNESS_")}, "DEMO_DIR": str(tmp_path),
           **env_extra}
    proc = subprocess.run([sys.executable, "-m", "pytest", "test_iso.py", "-n", "2", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), f"--sr-summary-json={tmp_path / 's.json'}"],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {p.stem: json.loads(p.read_text()) for p in tmp_path.glob("*-gw*.json")}


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ["on", "off"])
def test_perf_tests_run_alone_under_xdist_and_say_so(tmp_path, isolation):
    spans = _run_demo(tmp_path, ISOLATION_DEMO, SRHARNESS_PERF_ISOLATION=isolation)
    perf = next(v for k, v in spans.items() if k.startswith("perf"))
    overlapping = [k for k, (a, b) in spans.items() if not k.startswith("perf") and a < perf[1] and b > perf[0]]
    conditions = json.loads((tmp_path / "s.json").read_text())["verdicts"][0]["conditions"]
    if isolation == "on":
        assert not overlapping, f"other tests ran while the perf test measured: {overlapping}"
        assert conditions["run_alone"] is True and "concurrent_work" not in conditions
    else:
        assert conditions["run_alone"] is False and history.CONCURRENT_KEY in conditions


# the perf class first, so that its build starts while other tests are left to run beside it
NARROW_DEMO = ISOLATION_DEMO.split("@pytest.mark.cpu\n@pytest.mark.parametrize")[0] + '''
@pytest.mark.cpu
@pytest.mark.perf(alone="measurement")
class TestPerf:
    model = "srcnn"
    def test_fps(self, sr_record, sr_alone):
        start = time.time(); time.sleep(0.8)            # the build: beside other tests
        _log(os.environ["DEMO_DIR"], "perfbuild", start, time.time())
        if os.environ["DEMO_TIMED"] == "alone":
            with sr_alone():
                start = time.time(); time.sleep(0.8)
                _log(os.environ["DEMO_DIR"], "perf", start, time.time())
        sr_record(Verdict(model="srcnn", check="perf", metric="fps", measured=10.0, unit="fps"))

@pytest.mark.cpu
@pytest.mark.parametrize("i", range(12))
def test_other_work(i):
    start = time.time(); time.sleep(0.4); _log(os.environ["DEMO_DIR"], f"other{i}", start, time.time())
'''


@pytest.mark.slow
@pytest.mark.parametrize("timed", ["alone", "not-alone"])
def test_a_perf_test_can_be_alone_only_while_it_times(tmp_path, timed):
    """perf(alone="measurement"): nothing else runs inside sr_alone(), the rest of the test runs beside
    other tests, and a test that timed outside sr_alone() does not claim run_alone."""
    spans = {k.rsplit("-", 1)[0]: v for k, v in _run_demo(tmp_path, NARROW_DEMO, DEMO_TIMED=timed).items()}
    conditions = json.loads((tmp_path / "s.json").read_text())["verdicts"][0]["conditions"]
    if timed == "alone":
        perf = spans["perf"]
        overlapping = [k for k, (a, b) in spans.items() if k.startswith("other") and a < perf[1] and b > perf[0]]
        assert not overlapping, f"other tests ran while the perf test timed: {overlapping}"
        assert conditions["run_alone"] is True and "concurrent_work" not in conditions
    else:
        assert conditions["run_alone"] is False and "alone()" in conditions["concurrent_work"]
    build = spans["perfbuild"]      # 12 x 0.4 s of other work: some of it beside the build
    assert any(a < build[1] and b > build[0] for k, (a, b) in spans.items() if k.startswith("other")), spans


STEPPING_DEMO = ISOLATION_DEMO.split("@pytest.mark.cpu\n@pytest.mark.parametrize")[0] + '''
from srharness import progress

@pytest.mark.cpu
@pytest.mark.perf(alone="measurement")
class TestPerf:
    model = "srcnn"
    def test_fps(self, sr_record, sr_alone):
        time.sleep(0.5)                                  # the build, beside the long test
        asked = time.time()
        with sr_alone():
            start = time.time(); time.sleep(0.6)
            _log(os.environ["DEMO_DIR"], "perf", start, time.time())
        _log(os.environ["DEMO_DIR"], "perfwait", asked, start)
        sr_record(Verdict(model="srcnn", check="perf", metric="fps", measured=10.0, unit="fps"))

@pytest.mark.cpu
def test_long_work_in_steps():
    for i in range(int(os.environ["DEMO_STEPS"])):       # 0.25 s of work, then a step
        start = time.time(); time.sleep(0.25); _log(os.environ["DEMO_DIR"], f"step{i}", start, time.time())
        progress.step()
'''


@pytest.mark.slow
def test_a_waiting_measurement_pauses_other_tests_at_their_next_step(tmp_path):
    """A measurement waits for one step of a long test (srharness.progress.step), not for all of it,
    and none of that test's work runs while it times."""
    spans = {k.rsplit("-", 1)[0]: v for k, v in _run_demo(tmp_path, STEPPING_DEMO, DEMO_STEPS="24").items()}
    perf, (asked, entered) = spans["perf"], spans["perfwait"]
    steps = {k: v for k, v in spans.items() if k.startswith("step")}
    assert len(steps) == 24
    overlapping = [k for k, (a, b) in steps.items() if a < perf[1] and b > perf[0]]
    assert not overlapping, f"the long test worked while the perf test timed: {overlapping}"
    assert any(b <= asked for a, b in steps.values()) and any(a >= perf[1] for a, b in steps.values()), \
        "the perf test did not time in the middle of the long test"
    assert entered - asked < 1.5, f"the measurement waited {entered - asked:.2f} s for the long test (6 s of steps)"
    assert json.loads((tmp_path / "s.json").read_text())["verdicts"][0]["conditions"]["run_alone"] is True


def test_skipped_tests_land_in_their_cell_as_not_judged():
    skipped = [{"test": "suites/rdn/test_cpu.py::TestAccuracy::test_task_accuracy", "model": "rdn", "hardware": "cpu",
                "check": "accuracy", "reason": "no official rdn weights in the weights dir"},
               {"test": "suites/rdn/test_cuda.py::TestGpu::test_fp16", "model": "rdn", "hardware": "cuda",
                "check": "perf", "reason": "no NVIDIA GPU"},
               {"test": "tests/test_x.py::test_y", "reason": "no labels: not a matrix test"}]
    plumbing = V(model="rdn", backend="bicubic", passed=True, rule="within 15..60 dB")
    cells = {(c["model"], c["hardware"], c["check"]): c for c in matrix.matrix_cells([plumbing], skipped)}
    assert set(cells) == {("rdn", "cpu", "accuracy"), ("rdn", "cuda", "perf")}
    assert cells["rdn", "cpu", "accuracy"]["state"] == "not-judged" and cells["rdn", "cpu", "accuracy"]["skipped"] == 1
    assert cells["rdn", "cuda", "perf"]["state"] == "not-judged"
    assert cells["rdn", "cuda", "perf"]["skip_reasons"] == ["no NVIDIA GPU"]


@pytest.mark.slow
def test_nightly_json_keeps_stdout_for_the_document(tmp_path, capsys, monkeypatch):
    from srharness import nightly
    monkeypatch.delenv("DEMO_FPS_FACTOR", raising=False)
    monkeypatch.delenv("DEMO_PSNR_DROP_DB", raising=False)
    cfg = nightly.load_config(_nightly_project(tmp_path, require_figures=True))
    assert nightly.run_nightly(cfg, generate=False, json_output=True) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)                       # nothing but the document on stdout
    assert doc["exit_code"] == 0 and doc["coverage"]["judged"] == doc["coverage"]["selected"] == 1
    assert "srharness nightly [2/3]: running pytest" in captured.err


def test_json_errors_are_objects_on_stdout_with_the_same_exit_code(tmp_path, capsys):
    from srharness.cli import main
    assert main(["compare", "--history", str(tmp_path), "--json"]) == 2          # a CliError
    out, err = capsys.readouterr()
    assert json.loads(out) == {"error": json.loads(out)["error"], "command": "compare", "exit_code": 2}
    assert "no archived runs" in json.loads(out)["error"] and "no archived runs" in err
    with pytest.raises(SystemExit) as exc:                                          # a usage error
        main(["compare", "--fail", "--json"])
    assert exc.value.code == 2 and json.loads(capsys.readouterr().out)["exit_code"] == 2
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("srharness ")
