"""Shards and `srharness merge`: `nightly --shard` tags every result with its host, merge keeps the
same test from two hosts as two results, and a missing or unfinished shard is a failed result
naming it, its partial results kept."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from srharness import nightly
from srharness.cli import main as cli_main
from srharness.farm import merge, shard

pytestmark = pytest.mark.slow   # two shard runs in subprocesses (~25 s on 2 busy cores)

ROOT = Path(__file__).resolve().parent.parent
DEMO = '''
import pytest
from srharness.records import Verdict

@pytest.mark.cpu
@pytest.mark.export
class TestExport:
    model = "srcnn"
    def test_opset(self, sr_record):
        sr_record(Verdict(model="srcnn", check="export", metric="opset", measured=11.0, golden=11.0,
                          rule="== golden", passed=True))

@pytest.mark.vacc
class TestVacc:
    def test_card(self):
        pass
'''


def demo_project(tmp_path: Path) -> Path:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ("srharness.plugin", "srharness.report")\n')
    (tmp_path / "test_demo.py").write_text(DEMO)
    (tmp_path / "nightly.yaml").write_text("suites: [test_demo.py]\nrequire: [cpu, vacc]\nout_dir: out\n")
    return tmp_path / "nightly.yaml"


def run_shard(config: Path, hw: str, host: str, shard_dir: Path) -> subprocess.CompletedProcess:
    """`srharness nightly --shard` in a subprocess, as a CI runner or a farm node runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SRHARNESS_", "PYTEST_"))}
    env["SRHARNESS_HOST_NAME"] = host
    return subprocess.run([sys.executable, "-m", "srharness", "nightly", "--config", str(config), "--shard", hw,
                           "--shard-dir", str(shard_dir), "--no-report"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def results(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*-result.json"))]


def labels(result: dict) -> dict[str, str]:
    return {lab["name"]: lab["value"] for lab in result["labels"]}


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory):
    """One cpu shard from each of two hosts (same machine, two farm names), as two nodes would make them."""
    tmp = tmp_path_factory.mktemp("shards")
    config = demo_project(tmp)
    dirs = []
    for host in ("box-a", "box-b"):
        proc = run_shard(config, "cpu", host, tmp / f"cpu@{host}")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        dirs.append(tmp / f"cpu@{host}")
    return tmp, dirs


def test_shard_runs_only_its_hardware_and_carries_the_host(two_hosts):
    _, (a, _) = two_hosts
    state = json.loads((a / "shard.json").read_text())
    assert state["status"] == "finished" and state["exit_code"] == 0 and state["markers"] == "cpu"
    assert state["identity"]["host"] == "box-a" and state["identity"]["card"].endswith("x1")
    assert {"srharness", "git", "drivers", "python"} <= set(state["identity"])
    (only,) = results(a / "allure-results")          # the vacc test is not in the cpu shard
    assert only["fullName"].endswith("TestExport#test_opset")
    assert labels(only)["host"] == "box-a" and labels(only)["card"] == state["identity"]["card"]
    assert {"name": "host", "value": "box-a"} in only["parameters"]
    summary = json.loads((a / "summary.json").read_text())
    assert summary["shard"]["host"] == "box-a" and summary["verdicts"][0]["host"] == "box-a"
    assert "host=box-a" in (a / "allure-results" / "environment.properties").read_text()


def test_same_test_from_two_hosts_stays_two_results(two_hosts, tmp_path):
    _, dirs = two_hosts
    assert cli_main(["merge", *map(str, dirs), "-o", str(tmp_path / "m"), "--no-report"]) == 0
    merged = results(tmp_path / "m" / "allure-results")
    assert sorted(labels(r)["host"] for r in merged) == ["box-a", "box-b"]
    assert len({r["historyId"] for r in merged}) == 2          # not folded into retries
    assert len({r["testCaseId"] for r in merged}) == 1         # still one test case
    summary = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert summary["exitstatus"] == 0 and summary["tests"]["passed"] == 2
    assert sorted(v["host"] for v in summary["verdicts"]) == ["box-a", "box-b"]
    assert summary["matrix"] == {"srcnn": {"cpu": {"export": "pass"}}}
    assert set(summary["matrix_by_host"]) == {"box-a", "box-b"}
    assert [s["status"] for s in summary["shards"]] == ["ok", "ok"]


def test_missing_and_unfinished_shards_fail_the_merge_naming_them(two_hosts, tmp_path, capsys):
    _, (a, _) = two_hosts
    # A shard whose host died mid-run: shard.json still says running, one result written, untagged.
    partial = tmp_path / "vacc@box-c"
    (partial / "allure-results").mkdir(parents=True)
    state = json.loads((a / "shard.json").read_text())
    state.update(name="vacc@box-c", hardware="vacc", host="box-c", status="running", exit_code=None,
                 identity={**state["identity"], "host": "box-c", "card": "VastAI x1"})
    (partial / "shard.json").write_text(json.dumps(state))
    one = results(a / "allure-results")[0]
    for lab in ("host", "card"):
        one["parameters"] = [p for p in one["parameters"] if p["name"] != lab]
    one["uuid"] = "00000000-0000-4000-8000-000000000001"
    (partial / "allure-results" / f"{one['uuid']}-result.json").write_text(json.dumps(one))

    out = tmp_path / "m"
    assert cli_main(["merge", str(a), str(partial), str(tmp_path / "ascend@gone"), "-o", str(out), "--no-report"]) == 1
    printed = capsys.readouterr().out
    assert "ascend@gone" in printed and "vacc@box-c" in printed
    merged = {r["name"]: r for r in results(out / "allure-results")}
    lost = merged["Shard lost: ascend@gone"]
    assert lost["status"] == "failed" and "no shard folder" in lost["statusDetails"]["message"]
    category = next(c["name"] for c in nightly.CATEGORIES if re.fullmatch(c["messageRegex"], lost["statusDetails"]["message"]))
    assert category == "Farm shard lost"
    incomplete = merged["Shard lost: vacc@box-c"]["statusDetails"]["message"]
    assert "never finished" in incomplete and "Partial results kept: 1" in incomplete
    kept = [r for r in results(out / "allure-results") if r["uuid"] == "00000000-0000-4000-8000-000000000001"]
    assert labels(kept[0])["host"] == "box-c"                  # tagged with its shard's host on merge
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exitstatus"] == 1
    assert summary["nightly"]["shards_lost"] == ["vacc@box-c", "ascend@gone"]
    assert [s["status"] for s in summary["shards"]] == ["ok", "incomplete", "missing"]


def test_merge_refuses_a_foreign_output_folder(two_hosts, tmp_path, capsys):
    _, dirs = two_hosts
    (tmp_path / "notes.txt").write_text("mine")
    assert cli_main(["merge", str(dirs[0]), "-o", str(tmp_path), "--no-report"]) == 2
    assert "not a merge output (notes.txt)" in capsys.readouterr().err
    assert cli_main(["merge", str(dirs[0]), "-o", str(dirs[0]), "--no-report"]) == 2


def test_shard_of_unknown_hardware_is_a_clear_error(tmp_path, capsys):
    config = demo_project(tmp_path)
    assert cli_main(["nightly", "--config", str(config), "--shard", "tpu"]) == 2
    assert "--shard tpu: unknown hardware" in capsys.readouterr().err


def test_tagging_is_idempotent_and_per_host(tmp_path):
    result = {"uuid": "u", "name": "t", "historyId": "h", "labels": [{"name": "host", "value": "machine"}]}
    (tmp_path / "u-result.json").write_text(json.dumps(result))
    assert shard.tag_results(tmp_path, {"host": "box-a", "card": "x"}) == 1
    first = json.loads((tmp_path / "u-result.json").read_text())
    assert shard.tag_results(tmp_path, {"host": "box-b", "card": "x"}) == 0
    assert json.loads((tmp_path / "u-result.json").read_text()) == first
    assert [lab for lab in first["labels"] if lab["name"] == "host"] == [{"name": "host", "value": "box-a"}]
    assert first["historyId"] != "h"
    assert merge.verdict_from({"model": "m", "check": "c", "metric": "x", "measured": 1.0, "host": "h",
                               "card": "c", "verdict": "info"}).model == "m"


def test_allure_shows_two_results_not_a_retry(two_hosts, tmp_path):
    """What Allure itself makes of the merge (its report's summary.json): without the host in the
    parameters and historyId it folds the second host's run into a retry of the first."""
    gen = nightly.find_generator()
    if gen is None or gen.major < 3:
        pytest.skip(f"needs Allure 3's generator (its report has summary.json): {nightly.INSTALL_HINT}")
    _, dirs = two_hosts
    assert cli_main(["merge", *map(str, dirs), "-o", str(tmp_path / "m")]) == 0
    stats = json.loads((tmp_path / "m" / "allure-report" / "summary.json").read_text())["stats"]
    assert stats["total"] == stats["passed"] == 2 and not stats.get("retries"), stats
