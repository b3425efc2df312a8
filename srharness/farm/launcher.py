"""`srharness farm --config farm.yaml`: the nightly across a lab of hosts on Ray.

Each node advertises its cards as Ray resources (`srharness farm-node`). The head plans one shard
per (hardware, node holding it), checks every required hardware is offered before anything
starts, runs each shard on its node as `srharness nightly --shard HW` (a subprocess in that
node's environment: its PATH, its vendor tools), gets the shard folder back as a tar, and merges
all shards into one report and summary (srharness.farm.merge). A node that dies or a shard that
times out becomes failed results with the reason; finished shards are kept, and
`--rerun-missing` runs only the shards that did not finish, into the same output.
"""
from __future__ import annotations

import io
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srharness.errors import InputError
from srharness.farm.node import HOST_LABEL
from srharness.farm.shard import FINISHED, SHARD_FILE, read_state, shard_name, update_state, write_json
from srharness.hardware import HARDWARE

GRACE_S = 120          # how long past shard_timeout the head waits for a node's answer before calling it lost


MAX_SHARD_TIMEOUT_S = 7 * 24 * 3600
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class FarmError(InputError):
    """A farm that cannot start: bad config, no cluster, a required hardware no node offers."""


@dataclass
class FarmConfig:
    path: Path
    nightly: Path                           # the nightly config every shard runs (same path on every node)
    require: list[str]
    out_dir: Path
    shard_timeout: float = 7200.0
    hosts_per_hardware: dict[str, int] = field(default_factory=dict)   # e.g. {cpu: 1}; default: every node
    shard_env: dict[str, str] = field(default_factory=dict)
    report_name: str = "srharness farm"
    address: str | None = None


KNOWN_KEYS = {"nightly", "require", "out_dir", "shard_timeout", "hosts_per_hardware", "shard_env", "report_name",
              "address"}


def load_farm_config(path: str | Path) -> FarmConfig:
    from srharness.nightly import NightlyConfigError, load_config, read_settings
    path, where, raw = read_settings(path, kind="farm config", example="farm.example.yaml", known=KNOWN_KEYS,
                                     error=FarmError)
    if not isinstance(raw.get("nightly"), str):
        raise FarmError(f"{where}: field 'nightly' is required: the path of the nightly config the shards run")
    nightly_path = (path.parent / raw["nightly"]).resolve()
    try:
        ncfg = load_config(nightly_path)
    except NightlyConfigError as exc:
        raise FarmError(f"{where}: field 'nightly': {exc}") from None
    require = raw.get("require", ncfg.require)
    if isinstance(require, str):
        require = [require]
    if not isinstance(require, list) or not require or not all(isinstance(h, str) for h in require):
        raise FarmError(f"{where}: field 'require' must be a non-empty list of hardware, got {require!r}")
    bad = [h for h in require if h not in HARDWARE]
    if bad:
        raise FarmError(f"{where}: field 'require': unknown hardware {', '.join(bad)}; known: {', '.join(HARDWARE)}")
    timeout = raw.get("shard_timeout", 7200)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= MAX_SHARD_TIMEOUT_S:
        raise FarmError(f"{where}: field 'shard_timeout' must be a number of seconds in (0, {MAX_SHARD_TIMEOUT_S}] "
                        f"(a week), got {timeout!r}")
    spread = raw.get("hosts_per_hardware") or {}
    if not isinstance(spread, dict) or not all(k in HARDWARE and isinstance(v, int) and not isinstance(v, bool)
                                               and v >= 1 for k, v in spread.items()):
        raise FarmError(f"{where}: field 'hosts_per_hardware' must map hardware to a whole number >= 1, got {spread!r}")
    env = raw.get("shard_env") or {}
    if not isinstance(env, dict):
        raise FarmError(f"{where}: field 'shard_env' must map variable names to values, got {env!r}")
    for k, v in env.items():
        if not isinstance(k, str) or not ENV_NAME.match(k):
            raise FarmError(f"{where}: field 'shard_env': {k!r} is not an environment variable name "
                            "(letters, digits and '_', not starting with a digit)")
        if isinstance(v, bool) or not isinstance(v, (str, int, float)) or (isinstance(v, float) and not math.isfinite(v)) \
                or "\0" in str(v):
            raise FarmError(f"{where}: field 'shard_env': {k} = {v!r} must be a string or a finite number")
    for key in ("report_name", "address", "out_dir"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise FarmError(f"{where}: field '{key}' must be a string, got {raw[key]!r}")
    return FarmConfig(path=path, nightly=nightly_path, require=list(require),
                      out_dir=(path.parent / raw.get("out_dir", "out/farm")).resolve(), shard_timeout=float(timeout),
                      hosts_per_hardware=dict(spread), shard_env={k: str(v) for k, v in env.items()},
                      report_name=raw.get("report_name") or "srharness farm", address=raw.get("address"))


# ---------------------------------------------------------------- planning (pure: testable without Ray)
@dataclass(frozen=True)
class Node:
    node_id: str
    host: str
    resources: dict[str, float]

    def offers(self, hw: str) -> int:
        return int(self.resources.get(hw, 0))


@dataclass(frozen=True)
class Placement:
    hardware: str
    node: Node
    devices: int

    @property
    def name(self) -> str:
        return shard_name(self.hardware, self.node.host)


def plan(nodes: list[Node], require: list[str], hosts_per_hardware: dict[str, int] | None = None) -> list[Placement]:
    """One shard per (required hardware, node holding it); a hardware no node offers fails the plan, naming it.
    With hosts_per_hardware {hw: n}, hw runs on at most n nodes, those with the fewest other cards first
    (the CPU shard goes to the host that is not busy with an accelerator)."""
    hosts = [n.host for n in nodes]
    twice = sorted({h for h in hosts if hosts.count(h) > 1})
    if twice:
        raise FarmError(f"two nodes call themselves {', '.join(twice)}; give each `srharness farm-node --name NAME`")
    offered = ", ".join(f"{n.host} {dict((h, n.offers(h)) for h in HARDWARE if n.offers(h))}" for n in nodes) or "none"
    missing = [hw for hw in require if not any(n.offers(hw) for n in nodes)]
    if missing:
        raise FarmError(f"required hardware {', '.join(missing)}: no node of the cluster offers it (nodes: {offered}); "
                        "start `srharness farm-node` on a host that has it, or drop it from 'require'. Nothing was run.")
    out = []
    for hw in require:
        holders = sorted((n for n in nodes if n.offers(hw)),
                         key=lambda n: (sum(1 for h in HARDWARE if h != hw and n.offers(h)), n.host))
        limit = (hosts_per_hardware or {}).get(hw, len(holders))
        out += [Placement(hw, n, n.offers(hw)) for n in holders[:limit]]
    return out


def cluster_nodes() -> list[Node]:
    import ray
    nodes = []
    for n in ray.nodes():
        if not n.get("Alive"):
            continue
        host = (n.get("Labels") or {}).get(HOST_LABEL) or f"{n.get('NodeManagerHostname', 'node')}-{n['NodeID'][:6]}"
        nodes.append(Node(n["NodeID"], host, {k: v for k, v in n.get("Resources", {}).items() if k in HARDWARE}))
    return nodes


# ---------------------------------------------------------------- on the node
def run_shard_on_node(nightly_config: str, hw: str, host: str, timeout: float, env_extra: dict[str, str]) -> dict:
    """Runs on the node (a Ray task): `srharness nightly --shard HW` in the node's own environment,
    then the shard folder as tar.gz bytes, partial after a timeout."""
    from srharness.farm.identity import HOST_ENV
    start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="srharness-shard-"))
    name = shard_name(hw, host)
    shard_dir = work / name
    shard_dir.mkdir()
    cmd = [sys.executable, "-m", "srharness", "nightly", "--config", nightly_config, "--shard", hw,
           "--shard-dir", str(shard_dir), "--no-report"]
    env = dict(os.environ, **env_extra, **{HOST_ENV: host, "PYTHONUNBUFFERED": "1"})  # a killed run's log survives
    timed_out = False
    try:
        with open(shard_dir / "nightly-output.txt", "w", encoding="utf-8") as log:
            proc = subprocess.Popen(cmd, cwd=Path(nightly_config).parent, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)   # pytest and the vendor tools it started
                rc = proc.wait()
        state = read_state(shard_dir)
        base = {"name": name, "hardware": hw, "host": host}
        if timed_out:
            update_state(shard_dir, **base, status="timed-out",
                         reason=f"timed out after {timeout:g} s on {host} (shard_timeout); the run was killed")
        elif state is None or state.get("status") != FINISHED:
            update_state(shard_dir, **base, status="incomplete",
                         reason=f"`srharness nightly --shard {hw}` exited {rc} on {host} before finishing "
                                f"(see nightly-output.txt)")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(shard_dir, arcname=".")
        return {"tar": buf.getvalue(), "exit_code": rc, "seconds": time.monotonic() - start}
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------- on the head
def _unpack(data: bytes, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")   # no absolute paths, no links out of dest


def _mark_lost(dest: Path, placement: Placement, reason: str) -> None:
    """A shard whose node never answered: its folder says so (merge turns it into a failed result)."""
    dest.mkdir(parents=True, exist_ok=True)
    if not (dest / SHARD_FILE).exists() or (read_state(dest) or {}).get("status") != FINISHED:
        update_state(dest, name=placement.name, hardware=placement.hardware, host=placement.node.host,
                     identity={"host": placement.node.host, "hardware": placement.hardware,
                               "card": f"{placement.hardware} x{placement.devices}", "node_id": placement.node.node_id},
                     status="lost", reason=reason)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0].split(". ", 1)[0] if text else ""   # Ray's first sentence says what happened; the rest is advice
    return f"{type(exc).__name__}: {first}"[:300]


def _gather(ray, pending: dict, outcome: dict, shards_root: Path, shard_timeout: float) -> None:
    """Each shard's answer as it comes: its folder unpacked, or a "lost" folder with the reason."""
    deadline = time.monotonic() + shard_timeout + GRACE_S
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
        if not ready:
            for ref, p in pending.items():
                ray.cancel(ref, force=True)
                reason = f"no answer from {p.node.host} within {shard_timeout + GRACE_S:g} s (shard_timeout + {GRACE_S} s)"
                _mark_lost(shards_root / p.name, p, reason)
                outcome[p.name] = {"status": "lost", "reason": reason}
                print(f"srharness farm: shard {p.name} LOST: {reason}", flush=True)
            break
        ref = ready[0]
        p = pending.pop(ref)
        try:
            answer = ray.get(ref)
        except Exception as exc:   # noqa: BLE001 - any Ray failure (node died, worker crashed, unschedulable) loses the shard
            reason = f"node {p.node.host} ({p.node.node_id[:8]}) died or dropped the shard: {_short(exc)}"
            _mark_lost(shards_root / p.name, p, reason)
            outcome[p.name] = {"status": "lost", "reason": reason}
            print(f"srharness farm: shard {p.name} LOST: {reason}", flush=True)
            continue
        _unpack(answer["tar"], shards_root / p.name)
        state = read_state(shards_root / p.name) or {}
        outcome[p.name] = {"status": state.get("status"), "exit_code": answer["exit_code"],
                           "seconds": round(answer["seconds"], 2)}
        print(f"srharness farm: shard {p.name} {state.get('status')} (exit {answer['exit_code']}) "
              f"in {answer['seconds']:.1f} s", flush=True)


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """A HOST:PORT nobody listens on fails now, not after Ray's minutes of connection retries."""
    import socket
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as exc:
        raise FarmError(f"no Ray cluster at {address} ({exc}); start one with `srharness farm-node --head` and join "
                        "the card hosts with `srharness farm-node --address HEAD:6379`") from None


def run_farm(cfg: FarmConfig, address: str | None = None, rerun_missing: bool = False, generate: bool = True) -> int:
    try:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    except ImportError:
        raise FarmError("Ray is not installed: `pip install 'srharness[farm]'`") from None
    from srharness.farm.merge import merge_shards, prepare_out_dir

    shards_root = cfg.out_dir / "shards"
    prepare_out_dir(cfg.out_dir, [])
    address = address or cfg.address or os.environ.get("RAY_ADDRESS") or "auto"
    started = time.monotonic()
    if not ray.is_initialized():
        _check_reachable(address)
        try:
            ray.init(address=address, log_to_driver=False, logging_level="WARNING")
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise FarmError(f"no Ray cluster at {address} ({_short(exc)}); start one with `srharness farm-node "
                            "--head` and join the card hosts with `srharness farm-node --address HEAD:6379`") from None
    previous = {p.name: read_state(p) for p in shards_root.iterdir()} if shards_root.is_dir() else {}
    done = {n for n, s in previous.items() if s and s.get("status") == FINISHED} if rerun_missing else set()
    # A re-run needs only the hardware with a shard to redo (or none yet) offered, not the hosts that finished.
    finished_hw = {(previous[n] or {}).get("hardware") for n in done}
    unfinished_hw = {(s or {}).get("hardware") for n, s in previous.items() if n not in done}
    need = [hw for hw in cfg.require if hw not in finished_hw or hw in unfinished_hw]
    placements = plan(cluster_nodes(), need, cfg.hosts_per_hardware)

    if rerun_missing:
        todo = [p for p in placements if p.name not in done]
        covered = {p.hardware for p in todo}
        for n, s in previous.items():
            # A lost shard whose host is gone is superseded when this run covers its hardware on another host.
            if n not in done and n not in {p.name for p in todo} and (s or {}).get("hardware") in covered:
                dest = cfg.out_dir / "superseded" / n
                shutil.rmtree(dest, ignore_errors=True)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(shards_root / n, dest)
                print(f"srharness farm: {n} superseded by this run's {s['hardware']} shard(s); kept in {dest}")
        print(f"srharness farm: re-running {len(todo)} missing shard(s): {', '.join(p.name for p in todo) or 'none'}"
              f" (kept: {', '.join(sorted(done)) or 'none'})", flush=True)
    else:
        todo = placements
        if shards_root.is_dir():
            shutil.rmtree(shards_root)
    shards_root.mkdir(parents=True, exist_ok=True)

    task = ray.remote(run_shard_on_node)
    pending: dict[Any, Placement] = {}
    for p in todo:
        ref = task.options(
            resources={p.hardware: p.devices}, num_cpus=0, max_retries=0, name=f"srharness shard {p.name}",
            scheduling_strategy=NodeAffinitySchedulingStrategy(p.node.node_id, soft=False),
        ).remote(str(cfg.nightly), p.hardware, p.node.host, cfg.shard_timeout, cfg.shard_env)
        pending[ref] = p
        print(f"srharness farm: shard {p.name} placed on node {p.node.node_id[:8]} ({p.hardware} x{p.devices})",
              flush=True)

    outcome: dict[str, dict[str, Any]] = {}
    try:
        _gather(ray, pending, outcome, shards_root, cfg.shard_timeout)
    except KeyboardInterrupt:
        for ref in pending:     # leave no shard running on the cluster for nobody
            ray.cancel(ref, force=True)
        raise
    shard_seconds = time.monotonic() - started

    write_json(cfg.out_dir / "farm.json", {
        "config": str(cfg.path), "nightly": str(cfg.nightly), "require": cfg.require, "address": address,
        "rerun_missing": rerun_missing, "plan": [{"shard": p.name, "hardware": p.hardware, "host": p.node.host,
                                                  "node_id": p.node.node_id, "devices": p.devices} for p in placements],
        "ran": outcome, "seconds": round(shard_seconds, 2)})
    dirs = sorted(d for d in shards_root.iterdir() if d.is_dir())
    return merge_shards(dirs, cfg.out_dir, generate=generate, report_name=cfg.report_name)
