"""Farm mode on one machine: a 3-node local Ray cluster (ray.cluster_utils.Cluster), each node with its
own subset of the fake vendor tools on its PATH and its own farm name, runs the nightly with
require [cpu, ascend, vacc]: each hardware's shard on the node that has it, one merged Allure
report (checked in headless Chromium), one summary whose results carry their host. A node killed
mid-run gives a red run naming the lost shard; `--rerun-missing` completes it. The same shards run
serially with `nightly --shard` and merged with `srharness merge` give the same result.

Planning, config and node-resource checks need no Ray; the cluster test skips without it
(`pip install 'srharness[farm]'`). SRHARNESS_FARM_TIMING=1 also times a clean farm run against
the same shards run serially (printed).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from srharness.cli import main as cli_main
from srharness.farm import launcher
from srharness.farm.launcher import FarmError, Node, plan

ROOT = Path(__file__).resolve().parent.parent
FAKES = ROOT / "fixtures" / "fake_tools"
VENV_BIN = Path(sys.executable).parent
# Each node's vendor tools: the fakes it would have if it were that box.
NODE_TOOLS = {"box-cpu": [], "box-ascend": ["npu-smi", "atc", "benchmark"], "box-vacc": ["vamc", "vamp"]}
# A small selection: two of SRCNN's cpu export checks, SRCNN on Ascend, RCAN on VastAI (test shapes).
SUITES = ["suites/srcnn/test_cpu.py", "suites/srcnn/test_ascend.py", "suites/rcan/test_vacc.py"]
SHARD_ENV = {"SRHARNESS_HW_SHAPE": "test", "OMP_NUM_THREADS": "1"}


# ---------------------------------------------------------------- planning (no Ray)
def nodes(**offers: dict[str, int]) -> list[Node]:
    return [Node(f"id-{host}", host, res) for host, res in offers.items()]


def test_a_required_hardware_no_node_offers_fails_the_plan_naming_it():
    with pytest.raises(FarmError, match=r"required hardware vacc: no node of the cluster offers it .*Nothing was run"):
        plan(nodes(a={"cpu": 1, "ascend": 4}), ["cpu", "ascend", "vacc"])


def test_one_shard_per_hardware_and_node_with_its_device_count():
    cluster = nodes(a={"cpu": 1, "ascend": 4}, b={"cpu": 1, "ascend": 1, "vacc": 1}, c={"cpu": 1})
    placed = [(p.name, p.devices) for p in plan(cluster, ["cpu", "ascend", "vacc"], {"cpu": 1})]
    # cpu goes to the host with no card; ascend runs on both hosts that have one
    assert placed == [("cpu@c", 1), ("ascend@a", 4), ("ascend@b", 1), ("vacc@b", 1)]


def test_two_nodes_with_one_name_are_refused():
    with pytest.raises(FarmError, match="two nodes call themselves a"):
        plan([Node("1", "a", {"cpu": 1}), Node("2", "a", {"cpu": 1})], ["cpu"])


@pytest.mark.parametrize("text, message", [
    ("require: [cpu]\n", r"field 'nightly' is required"),
    ("nightly: nope.yaml\n", r"field 'nightly': nightly config .*nope.yaml: no such file"),
    ("nightly: nightly.yaml\nrequire: [tpu]\n", r"field 'require': unknown hardware tpu"),
    ("nightly: nightly.yaml\nshard_timeout: -1\n", r"field 'shard_timeout' must be a number of seconds in \(0, "),
    ("nightly: nightly.yaml\nhosts_per_hardware: {cpu: 0}\n", r"field 'hosts_per_hardware'"),
    ("nightly: nightly.yaml\nnodes: 3\n", r"unknown field\(s\) nodes"),
])
def test_farm_config_errors_name_the_file_and_field(tmp_path, text, message):
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    (tmp_path / "nightly.yaml").write_text("suites: [test_x.py]\nrequire: [cpu]\n")
    (tmp_path / "farm.yaml").write_text(text)
    with pytest.raises(FarmError, match=message) as err:
        launcher.load_farm_config(tmp_path / "farm.yaml")
    assert str(tmp_path / "farm.yaml") in str(err.value)


def test_example_config_loads(tmp_path):
    # the examples point data_dir at ../shared/data beside the clone, which a fresh clone may lack:
    # load copies laid out the same way, with that folder present
    clone = tmp_path / "clone"
    (clone / "suites").mkdir(parents=True)
    (tmp_path / "shared" / "data").mkdir(parents=True)
    for name in ("farm.example.yaml", "nightly.example.yaml"):
        shutil.copy(ROOT / name, clone / name)
    cfg = launcher.load_farm_config(clone / "farm.example.yaml")
    assert cfg.require == ["cpu", "ascend", "vacc"] and cfg.hosts_per_hardware == {"cpu": 1}


def tool_dir(base: Path, host: str) -> Path:
    d = base / f"tools-{host}"
    d.mkdir(exist_ok=True)
    for tool in NODE_TOOLS[host]:
        if not (d / tool).exists():
            (d / tool).symlink_to(FAKES / tool)
    return d


def node_env(base: Path, host: str) -> dict[str, str]:
    """What a farm node's processes see: its own tools first, the venv, no CI/pytest leftovers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SRHARNESS_", "PYTEST_", "RAY_"))}
    env["PATH"] = os.pathsep.join([str(tool_dir(base, host)), str(VENV_BIN), os.environ.get("PATH", "")])
    env["SRHARNESS_HOST_NAME"] = host
    return env


def advertised(base: Path, host: str) -> dict:
    """`srharness farm-node --dry-run --json` under that node's PATH: what it would pass to `ray start`."""
    proc = subprocess.run([sys.executable, "-m", "srharness", "farm-node", "--address", "head:6379", "--name", host,
                           "--dry-run", "--json"], env=node_env(base, host), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_farm_node_advertises_what_the_detectors_find(tmp_path):
    info = advertised(tmp_path, "box-ascend")
    assert info["resources"]["ascend"] == 1 and info["resources"]["cpu"] == 1 and "vacc" not in info["resources"]
    assert info["labels"] == {"srharness-host": "box-ascend"}
    cmd = info["command"]
    assert cmd[1] == "start" and json.loads(cmd[cmd.index("--resources") + 1]) == info["resources"]
    assert cmd[cmd.index("--address") + 1] == "head:6379"


def test_farm_without_a_cluster_is_a_clear_error(tmp_path, capsys):
    pytest.importorskip("ray")
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    (tmp_path / "nightly.yaml").write_text("suites: [test_x.py]\nrequire: [cpu]\n")
    (tmp_path / "farm.yaml").write_text("nightly: nightly.yaml\n")
    assert cli_main(["farm", "--config", str(tmp_path / "farm.yaml"), "--address", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "no Ray cluster at 127.0.0.1:1" in err and "srharness farm-node --head" in err and "Traceback" not in err


# ---------------------------------------------------------------- the cluster (slow)
def browser_helpers():
    spec = importlib.util.spec_from_file_location("report_browser_helpers", ROOT / "tests" / "test_report_browser.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_configs(base: Path) -> Path:
    (base / "nightly.yaml").write_text(yaml.safe_dump({
        "suites": [str(ROOT / s) for s in SUITES], "markers": "export or not cpu", "require": ["cpu"],
        "keyword": "not dynamic_hw and not default_exporter", "out_dir": "out/nightly"}))
    (base / "farm.yaml").write_text(yaml.safe_dump({
        "nightly": "nightly.yaml", "require": ["cpu", "ascend", "vacc"], "hosts_per_hardware": {"cpu": 1},
        "out_dir": "out/farm", "shard_timeout": 600, "shard_env": SHARD_ENV, "report_name": "farm test"}))
    return base / "farm.yaml"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    pytest.importorskip("ray", reason="Ray not installed: pip install 'srharness[farm]'")
    from ray.cluster_utils import Cluster
    base = tmp_path_factory.mktemp("farm")
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith(("SRHARNESS_", "PYTEST_XDIST", "RAY_"))]:
            mp.delenv(key)    # the raylets inherit this process's environment (pytest's own variables stay)
        common = {"num_cpus": 1, "object_store_memory": 80 * 2**20, "include_dashboard": False}
        with ThreadPoolExecutor(3) as pool:   # each imports torch for the cuda detector: in parallel
            spec = dict(zip(NODE_TOOLS, pool.map(lambda h: advertised(base, h), NODE_TOOLS)))

        def node_args(host):
            env = {k: v for k, v in node_env(base, host).items() if k in ("PATH", "SRHARNESS_HOST_NAME")}
            env["SRHARNESS_FAKE_TOOL_LOG"] = str(base / f"tools-{host}.jsonl")   # the fakes say when they ran
            env["TMPDIR"] = str(base / f"tmp-{host}")    # what a killed node leaves stays in this test's folder
            Path(env["TMPDIR"]).mkdir(exist_ok=True)
            return {**common, "resources": spec[host]["resources"], "labels": spec[host]["labels"], "env_vars": env}

        c = Cluster(initialize_head=True, head_node_args=node_args("box-cpu"))
        handles = {"box-cpu": c.head_node}
        for host in ("box-ascend", "box-vacc"):
            handles[host] = c.add_node(**node_args(host))
        c.wait_for_nodes()
        print(f"3-node Ray cluster up in {time.monotonic() - started:.1f} s")
        try:
            yield {"cluster": c, "nodes": handles, "node_args": node_args, "base": base,
                   "farm_yaml": write_configs(base)}
        finally:
            c.shutdown()


def run_farm(cl, *args: str, kill: str | None = None) -> tuple[int, str, float]:
    """`srharness farm` in a subprocess; with kill=HOST, remove that node mid-shard: once its shard has
    called a vendor tool (the fakes log their calls)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SRHARNESS_", "PYTEST_", "RAY_"))}
    cmd = [sys.executable, "-m", "srharness", "farm", "--config", str(cl["farm_yaml"]),
           "--address", cl["cluster"].address, *args]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killer = None
    if kill:
        calls = cl["base"] / f"tools-{kill}.jsonl"
        calls.unlink(missing_ok=True)

        def kill_mid_run():
            deadline = time.monotonic() + 300
            while not (calls.exists() and calls.read_text().strip()) and time.monotonic() < deadline:
                time.sleep(0.2)
            cl["cluster"].remove_node(cl["nodes"][kill])

        killer = threading.Thread(target=kill_mid_run)
        killer.start()
    assert proc.stdout is not None
    lines = list(proc.stdout)
    rc = proc.wait(timeout=600)
    if killer:
        killer.join()
    out = "".join(lines)
    print(out[-5000:])
    return rc, out, time.monotonic() - started


def summary_key(summary: dict) -> dict:
    """A merged summary modulo timings and paths."""
    def row(v):
        measured = None if v["check"] == "perf" or v["measured"] is None else round(v["measured"], 3)
        return (v["host"], v["card"], v["model"], v["hardware"], v["check"], v["metric"], v["backend"],
                v["precision"], v.get("image"), measured, v["verdict"])
    return {"tests": summary["tests"], "figures": summary["figures"], "matrix": summary["matrix"],
            "matrix_by_host": summary["matrix_by_host"], "verdicts": sorted(map(row, summary["verdicts"])),
            "shards": sorted((s["name"], s["status"], s["results"]) for s in summary["shards"]),
            "exitstatus": summary["exitstatus"]}


def run_serially(cl, out: Path) -> float:
    """The same three shards with `srharness nightly --shard`, one after another on this machine."""
    started = time.monotonic()
    for hw, host in (("cpu", "box-cpu"), ("ascend", "box-ascend"), ("vacc", "box-vacc")):
        proc = subprocess.run([sys.executable, "-m", "srharness", "nightly", "--config", str(cl["base"] / "nightly.yaml"),
                               "--shard", hw, "--shard-dir", str(out / f"{hw}@{host}"), "--no-report"],
                              cwd=ROOT, env={**node_env(cl["base"], host), **SHARD_ENV}, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return time.monotonic() - started


@pytest.mark.slow
def test_farm_kills_a_node_reruns_the_missing_shard_and_matches_merge(cluster, tmp_path):
    out = cluster["base"] / "out" / "farm"
    # 1. A node dies mid-run: a red run naming the lost shard; the other shards are kept.
    rc, printed, _ = run_farm(cluster, "--no-report", kill="box-vacc")
    assert rc == 1, printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["nightly"]["shards_lost"] == ["vacc@box-vacc"], summary["shards"]
    statuses = {s["name"]: s["status"] for s in summary["shards"]}
    assert statuses == {"cpu@box-cpu": "ok", "ascend@box-ascend": "ok", "vacc@box-vacc": "lost"}
    lost = [json.loads(p.read_text()) for p in (out / "allure-results").glob("*-result.json")]
    lost = [r for r in lost if r["name"] == "Shard lost: vacc@box-vacc"]
    assert lost and "box-vacc" in lost[0]["statusDetails"]["message"] and "died" in lost[0]["statusDetails"]["message"]
    assert "shard vacc@box-vacc LOST" in printed and "NodeDiedError" in printed   # died mid-run
    kept = {n: (out / "shards" / n / "shard.json").stat().st_mtime for n in ("cpu@box-cpu", "ascend@box-ascend")}

    # 2. The host comes back; the re-run flag runs only the lost shard and merges again.
    cluster["nodes"]["box-vacc"] = cluster["cluster"].add_node(**cluster["node_args"]("box-vacc"))
    cluster["cluster"].wait_for_nodes()
    rc, printed, _ = run_farm(cluster, "--rerun-missing")
    assert rc == 0, printed
    assert "re-running 1 missing shard(s): vacc@box-vacc" in printed
    assert json.loads((out / "farm.json").read_text())["ran"].keys() == {"vacc@box-vacc"}
    assert kept == {n: (out / "shards" / n / "shard.json").stat().st_mtime for n in kept}
    farm = json.loads((out / "summary.json").read_text())
    assert farm["exitstatus"] == 0 and farm["nightly"]["shards_lost"] == []
    # each hardware ran on the node that has it, and every figure carries its host and card
    assert {(v["hardware"], v["host"]) for v in farm["verdicts"]} == {
        ("cpu", "box-cpu"), ("ascend", "box-ascend"), ("vacc", "box-vacc")}
    assert all(v["card"] for v in farm["verdicts"])
    assert farm["tests"]["passed"] == 8 and farm["tests"]["failed"] == 0
    assert set(farm["hosts"]) == {"box-cpu", "box-ascend", "box-vacc"}

    # 3. The same shards made serially with `nightly --shard` and merged with `srharness merge`: same result.
    shards = tmp_path / "shards"
    run_serially(cluster, shards)
    assert cli_main(["merge", *map(str, sorted(shards.iterdir())), "-o", str(tmp_path / "merged"), "--no-report"]) == 0
    merged = json.loads((tmp_path / "merged" / "summary.json").read_text())
    assert summary_key(merged) == summary_key(farm)

    # 4. One merged Allure report, as a person sees it.
    report = out / "allure-report" / "index.html"
    helpers = browser_helpers()
    if helpers.chromium() is None or not report.is_file():
        pytest.skip("merged report not rendered: Chromium or Allure's generator missing")
    dom = helpers.browse(report.as_uri() + "#/", tmp_path / "profile", "--dump-dom", "--virtual-time-budget=30000")
    shown = helpers.shown_counts(dom)       # the results tree: every host's tests in one report
    assert shown["total"] == shown["passed"] == 8, shown
    first = (out / "conformance-matrix.html").read_text()   # the first page: one matrix over all hosts
    assert "farm: box-ascend, box-cpu, box-vacc" in first and "GREEN" in first


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SRHARNESS_FARM_TIMING"), reason="timing run: set SRHARNESS_FARM_TIMING=1")
def test_farm_overhead_over_serial_shards(cluster, tmp_path):
    for host in NODE_TOOLS:     # a fresh node for any the other test removed
        if not cluster["nodes"][host].remaining_processes_alive():
            cluster["nodes"][host] = cluster["cluster"].add_node(**cluster["node_args"](host))
    cluster["cluster"].wait_for_nodes()
    serial = run_serially(cluster, tmp_path / "serial")
    rc, printed, farm = run_farm(cluster, "--no-report")
    assert rc == 0, printed
    ran = json.loads((cluster["base"] / "out" / "farm" / "farm.json").read_text())["ran"]
    slowest = max(r["seconds"] for r in ran.values())
    print(f"farm (3 shards on 3 Ray nodes, gather + merge, no HTML): {farm:.1f} s, its slowest shard on its node "
          f"{slowest:.1f} s (farm overhead {farm - slowest:.1f} s); the same shards serially: {serial:.1f} s")


SLOW_DEMO = '''
import time, pytest

@pytest.mark.cpu
def test_quick():
    pass

@pytest.mark.cpu
def test_hangs():
    time.sleep(120)
'''


@pytest.mark.slow
def test_a_shard_over_its_timeout_is_killed_and_its_partial_results_kept(tmp_path):
    """The node side of a shard (a plain function Ray runs remotely), called here directly."""
    (tmp_path / "conftest.py").write_text('pytest_plugins = ("srharness.plugin", "srharness.report")\n')
    (tmp_path / "test_slow.py").write_text(SLOW_DEMO)
    (tmp_path / "nightly.yaml").write_text("suites: [test_slow.py]\nrequire: [cpu]\nout_dir: out\n")
    started = time.monotonic()
    answer = launcher.run_shard_on_node(str(tmp_path / "nightly.yaml"), "cpu", "box-slow", 45, {})
    assert time.monotonic() - started < 120 and answer["exit_code"] != 0
    shard_dir = tmp_path / "out" / "cpu@box-slow"
    launcher._unpack(answer["tar"], shard_dir)
    state = json.loads((shard_dir / "shard.json").read_text())
    assert state["status"] == "timed-out" and "timed out after 45 s on box-slow" in state["reason"]
    assert "collected 2 items" in (shard_dir / "nightly-output.txt").read_text()   # the log up to the kill
    assert cli_main(["merge", str(shard_dir), "-o", str(tmp_path / "m"), "--no-report"]) == 1
    merged = [json.loads(p.read_text()) for p in (tmp_path / "m" / "allure-results").glob("*-result.json")]
    lost = [r for r in merged if r["name"] == "Shard lost: cpu@box-slow"]
    assert lost and "timed out after 45 s" in lost[0]["statusDetails"]["message"]
    assert any(r.get("fullName", "").endswith("test_quick") and r["status"] == "passed" for r in merged)  # kept
