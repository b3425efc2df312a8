"""srharness nightly: config, environment, categories, history carry-over, analytics, exit codes."""
from __future__ import annotations

import json
import re
import stat
import sys
from pathlib import Path

import pytest

from srharness import nightly
from srharness.cli import main as cli_main

PASSING = '''
import pytest
from srharness.records import Verdict

@pytest.mark.cpu
@pytest.mark.export
class TestExport:
    model = "srcnn"
    def test_opset(self, sr_record):
        sr_record(Verdict(model="srcnn", check="export", metric="opset", measured=11.0, golden=11.0,
                          rule="== golden", passed=True))
'''
FAILING = PASSING + '''
    def test_broken_graph(self):
        assert False, "graph violation: unsupported op DepthToSpace"
'''

# A stand-in for the `allure` generator: records what it was given, writes an index.html with the
# analytics snippet Allure 3 embeds, and keeps history the way the real major version does.
FAKE_ALLURE = r'''#!{python}
import json, os, sys
from pathlib import Path
MAJOR = {major}
if sys.argv[1] == "--version":
    print(f"{{MAJOR}}.99.0"); sys.exit(0)
args = sys.argv[2:]
out = Path(args[args.index("--output" if MAJOR == 3 else "-o") + 1])
results = Path(args[0])
out.mkdir(parents=True, exist_ok=True)
n = len(list(results.glob("*-result.json")))
if MAJOR == 3:
    cfg = json.loads(Path(args[args.index("--config") + 1]).read_text())
    hist = Path(cfg["historyPath"])
    runs = hist.read_text().splitlines() if hist.exists() else []
    with hist.open("a") as fh:
        fh.write(json.dumps({{"results": n}}) + "\n")
    previous = len(runs)
else:
    trend = results / "history" / "history-trend.json"
    runs = json.loads(trend.read_text()) if trend.exists() else []
    (out / "history").mkdir()
    (out / "history" / "history-trend.json").write_text(json.dumps(runs + [{{"results": n}}]))
    previous = len(runs)
(out / "index.html").write_text(
    "<html><head></head><body><div id=app></div>"
    '<script async src="https://www.googletagmanager.com/gtag/js?id=G-X"></script>\n'
    "<script>\n window.dataLayer = window.dataLayer || [];\n function gtag(){{dataLayer.push(arguments);}}\n"
    " gtag('js', new Date());\n</script>"
    f"<p>results {{n}} previous runs {{previous}} analytics-env {{os.environ.get('ALLURE_NO_ANALYTICS')}}</p></body></html>")
'''


def fake_allure(tmp_path: Path, major: int) -> Path:
    exe = tmp_path / f"allure{major}"
    exe.write_text(FAKE_ALLURE.format(python=sys.executable, major=major))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def make_project(tmp_path: Path, tests: str = PASSING, **config) -> Path:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ("srharness.plugin", "srharness.report")\n')
    (tmp_path / "test_demo.py").write_text(tests)
    settings = {"suites": ["test_demo.py"], "require": ["cpu"], "out_dir": "out", **config}
    import yaml
    path = tmp_path / "nightly.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


# ---------------------------------------------------------------- config
def test_config_paths_resolve_against_the_config_folder(tmp_path):
    cfg = nightly.load_config(make_project(tmp_path, workers="auto", single_file=True, markers="cpu"))
    assert cfg.out_dir == (tmp_path / "out").resolve()
    assert cfg.results_dir == cfg.out_dir / "allure-results"
    cmd = nightly.pytest_command(cfg)[3:]  # after `python -m pytest`
    assert "--sr-require=cpu" in cmd and cmd[cmd.index("-n") + 1] == "auto" and cmd[cmd.index("-m") + 1] == "cpu"
    assert f"--alluredir={cfg.results_dir}" in cmd


@pytest.mark.parametrize("text, message", [
    ("suites: [test_demo.py]\nrequire: [tpu]\n", r"field 'require': unknown hardware tpu"),
    ("require: [cpu]\n", r"field 'suites' is required"),
    ("suites: [nope.py]\n", r"field 'suites': nope.py does not exist"),
    ("suites: [test_demo.py]\ndata_dir: /no/such/dir\n", r"field 'data_dir': /no/such/dir is not a directory"),
    ("suites: [test_demo.py]\nworkres: 2\n", r"unknown field\(s\) workres"),
    ("suites: [test_demo.py]\nworkers: many\n", r"field 'workers' must be 'auto' or a whole number"),
    ("suites: [test_demo.py\n", r"not valid YAML"),
    ("- a list\n", r"expected a mapping"),
])
def test_config_errors_name_the_file_and_field(tmp_path, text, message, monkeypatch):
    # the file's own values are what is judged: $SRHARNESS_DATA_DIR (set in CI) would win over data_dir
    monkeypatch.delenv("SRHARNESS_DATA_DIR", raising=False)
    (tmp_path / "test_demo.py").write_text(PASSING)
    path = tmp_path / "nightly.yaml"
    path.write_text(text)
    with pytest.raises(nightly.NightlyConfigError, match=message) as err:
        nightly.load_config(path)
    assert str(path) in str(err.value)


def test_cli_reports_a_missing_config_without_traceback(tmp_path, capsys):
    assert cli_main(["nightly", "--config", str(tmp_path / "absent.yaml")]) == 2
    err = capsys.readouterr().err
    assert "absent.yaml: no such file" in err and "Traceback" not in err


# ---------------------------------------------------------------- side files
def test_environment_properties_lists_versions_devices_and_commit(tmp_path):
    cfg = nightly.load_config(make_project(tmp_path))
    env = nightly.environment_properties(cfg)
    assert re.match(r"\d+\.\d+", env["torch"]) and re.match(r"\d+\.\d+", env["onnxruntime"])
    assert env["device.cpu"] != "" and env["device.vacc"].startswith("absent (")
    assert env["required"] == "cpu" and "git.commit" in env
    tmp_path.joinpath("r").mkdir()
    nightly.write_environment(tmp_path / "r", {"a key": "x=1\ny"})
    assert (tmp_path / "r" / "environment.properties").read_text() == "a\\ key=x=1\\ny\n"


@pytest.mark.parametrize("message, category", [
    ("required hardware missing: vacc: vacc hardware not found", "Hardware missing"),
    ("required hardware test skipped (ascend): ascend hardware not found", "Hardware missing"),
    ("AssertionError: accuracy regression: psnr 30.0 below golden 38.18", "Accuracy regression"),
    ("AssertionError: fps 12.0 is not above floor 40 (rule: exceeds)", "Performance regression"),
    ("AssertionError: graph violation: unsupported op DepthToSpace at opset 11", "Export / graph violation"),
    ("ToolError: atc failed: exit code 1; see the raw log", "Tool failure"),
    ("LogParseError: trtexec log has no throughput line", "Tool failure"),
    ("AssertionError: vdsr ort-int8 int8: 31.20 dB against torch, below 35 dB", "Accuracy regression"),
    ("AssertionError: rdn: 310 card 12.000 fps does not exceed T4 40.0 fps", "Performance regression"),
    ("AssertionError: onnxruntime differs from torch by 0.01 (bound 0.0001)", "Export / graph violation"),
    ("AssertionError: DepthToSpace at opset 9: {'DepthToSpace': 1}", "Export / graph violation"),
    ("tool failure: pytest exited with 4 before or while running the suites", "Tool failure"),
])
def test_categories_match_our_failure_messages(message, category):
    # Allure 2 (Java) matches the whole message; Allure 3 (JavaScript) searches it.
    first = next(c["name"] for c in nightly.CATEGORIES if re.fullmatch(c["messageRegex"], message))
    assert first == category
    first3 = next(c["name"] for c in nightly.categories_for_allure3() if re.search(c["messageRegex"], message))
    assert first3 == category


def test_strip_analytics_removes_the_google_tag(tmp_path):
    page = tmp_path / "index.html"
    page.write_text('<body><script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>\n'
                    "<script>\nfunction gtag(){dataLayer.push(arguments);}\ngtag('js', new Date());\n</script>"
                    "<script>keep()</script></body>")
    assert nightly.strip_analytics(tmp_path) == []
    assert page.read_text() == "<body><script>keep()</script></body>"


def test_results_dir_refuses_foreign_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(nightly.NightlyConfigError, match="not Allure results"):
        nightly.prepare_results_dir(tmp_path)


# ---------------------------------------------------------------- whole runs (fake generator)
@pytest.mark.parametrize("major", [2, 3])
def test_history_carries_over_and_analytics_are_stripped(tmp_path, monkeypatch, major):
    monkeypatch.setenv(nightly.ALLURE_ENV, str(fake_allure(tmp_path, major)))
    cfg = nightly.load_config(make_project(tmp_path))
    assert nightly.run_nightly(cfg) == 0
    assert nightly.run_nightly(cfg) == 0
    index = (cfg.report_dir / "index.html").read_text()
    assert "previous runs 1" in index, index
    assert "googletagmanager" not in index and "gtag(" not in index
    assert "analytics-env true" in index
    summary = json.loads(cfg.summary_json.read_text())
    assert summary["nightly"]["failures"] == [] and summary["tests"]["passed"] == 1
    assert (cfg.results_dir / "categories.json").is_file() and (cfg.results_dir / "environment.properties").is_file()


def test_failing_test_makes_the_run_fail(tmp_path, monkeypatch):
    monkeypatch.setenv(nightly.ALLURE_ENV, str(fake_allure(tmp_path, 3)))
    cfg = nightly.load_config(make_project(tmp_path, tests=FAILING))
    assert nightly.run_nightly(cfg) == 1
    summary = json.loads(cfg.summary_json.read_text())
    assert summary["tests"]["failed"] == 1 and "pytest exit code 1" in summary["nightly"]["failures"]


def test_missing_required_hardware_fails_and_is_in_the_results(tmp_path, capsys):
    cfg = nightly.load_config(make_project(tmp_path, require=["cpu", "vacc"]))
    assert nightly.run_nightly(cfg, generate=False) == 1
    results = [json.loads(p.read_text()) for p in cfg.results_dir.glob("*-result.json")]
    assert [r["name"] for r in results] == ["Required hardware missing: vacc"]
    assert results[0]["status"] == "failed"
    assert results[0]["statusDetails"]["message"].startswith("required hardware missing: vacc")
    summary = json.loads(cfg.summary_json.read_text())
    assert summary["nightly"]["missing_hardware"] == ["vacc"]
    assert "required hardware missing: vacc" in capsys.readouterr().out


def test_without_a_generator_it_runs_and_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(nightly, "find_generator", lambda: None)
    cfg = nightly.load_config(make_project(tmp_path))
    assert nightly.run_nightly(cfg) == 0
    out = capsys.readouterr().out
    assert "npm install allure" in out and "allure-commandline" in out
    assert list(cfg.results_dir.glob("*-result.json")) and not cfg.report_dir.exists()


def _globals_of(tmp_path, summary):
    import json as _json

    from srharness import nightly as _n
    cfg = _n.NightlyConfig(path=tmp_path / "nightly.yaml", suites=["suites"], require=["cpu"], out_dir=tmp_path / "out")
    cfg.results_dir.mkdir(parents=True)
    _n.write_matrix_page(cfg, summary)
    (doc,) = [_json.loads(p.read_text()) for p in cfg.results_dir.glob("*-globals.json")]
    return doc


NOT_JUDGED = [{"golden_id": "srcnn/x2/set5/psnr/repo-readme", "figure_key": "k", "model": "srcnn", "hardware": "cpu", "check": "accuracy",
               "metric": "psnr",
               "reason": "no weights: no official srcnn x2 checkpoint"}]


def test_not_judged_figures_are_no_allure_error_on_a_green_run(tmp_path):
    """Issue 21: a green nightly showed 'Global Errors 16' in red, one per figure not judged."""
    doc = _globals_of(tmp_path, {"failures": [], "not_judged": NOT_JUDGED, "verdicts": []})
    assert doc["errors"] == [] and doc["attachments"]
    cat = next(c for c in nightly.CATEGORIES if c["name"] == "Not judged")
    assert cat["matchedStatuses"] == ["skipped"]
    import re
    assert re.fullmatch(cat["messageRegex"], "Skipped: not judged: no weights: no official srcnn x2 checkpoint")


def test_not_judged_figures_are_errors_when_required(tmp_path):
    doc = _globals_of(tmp_path, {"failures": ["1 required golden figure(s) not judged (--sr-require-figures)"],
                                 "require_figures": {"required": True, "missing": 1},
                                 "not_judged": NOT_JUDGED, "verdicts": []})
    assert [e["message"] for e in doc["errors"]] == [
        "1 required golden figure(s) not judged (--sr-require-figures)",
        "not judged: srcnn/x2/set5/psnr/repo-readme: no weights: no official srcnn x2 checkpoint"]
