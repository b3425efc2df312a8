"""`srharness nightly --shard HW`: the part of the nightly selection that needs one piece of hardware,
fail-closed for it, into a shard folder tagged with the host's identity.

A shard folder (engine-neutral: a Ray task, a CI runner with labels or a Kubernetes job makes the same):

    <hw>@<host>/shard.json        identity + status: running -> finished (exit code) | timed-out | lost
               /allure-results/   Allure results, each stamped with host and card (label and parameter)
               /summary.json      the nightly summary; every verdict carries "host" and "card"

`shard.json` says "running" until the run ends, so a folder left by a killed run reads as incomplete.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from srharness.fileio import atomic_write_text
from srharness.hardware import HARDWARE

SHARD_FILE = "shard.json"
SCHEMA = "srharness-shard/1"
FINISHED = "finished"
SHARD_ENTRIES = {SHARD_FILE, "conformance-matrix.html", "summary.json", "allure-results", "allure-report", "history",
                 "nightly-output.txt", ".allurerc.json"}


def shard_name(hw: str, host: str) -> str:
    """HW@HOST: the shard's folder and log names, so one path component (a node's host name comes
    from the cluster, i.e. from another machine)."""
    from srharness.fileio import path_component
    return path_component(f"{hw}@{host}", f"shard of hardware {hw!r} on host {host!r}")


def shard_markers(markers: str | None, hw: str) -> str:
    """The shard's pytest -m expression: the config's selection, narrowed to tests that need `hw`."""
    return f"({markers}) and {hw}" if markers else hw


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_state(shard_dir: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((shard_dir / SHARD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("schema") == SCHEMA else None


def update_state(shard_dir: Path, **changes: Any) -> dict[str, Any]:
    state = read_state(shard_dir) or {"schema": SCHEMA}
    state.update(changes)
    write_json(shard_dir / SHARD_FILE, state)
    return state


def tag_results(results_dir: Path, identity: dict[str, Any], files: list[Path] | None = None) -> int:
    """Stamp host and card on every Allure result as labels and parameters, and make its historyId
    per host: Allure folds results with one historyId into retries, and the same test on two hosts
    is two results. Idempotent (a result with a `host` parameter is left alone); returns how many changed."""
    host, card = identity["host"], identity["card"]
    changed = 0
    for path in sorted(results_dir.glob("*-result.json")) if files is None else files:
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue   # a result half-written by a killed run: Allure would skip it too
        params = result.setdefault("parameters", [])
        if any(p.get("name") == "host" for p in params):
            continue
        params += [{"name": "host", "value": host}, {"name": "card", "value": card}]
        # allure-pytest labels `host` with the machine's name; ours is the farm node's identity.
        result["labels"] = [lab for lab in result.get("labels", []) if lab.get("name") not in ("host", "card")]
        result["labels"] += [{"name": "host", "value": host}, {"name": "card", "value": card}]
        base = result.get("historyId") or result.get("fullName") or result.get("name", "")
        result["historyId"] = hashlib.md5(f"{base}|host={host}|card={card}".encode()).hexdigest()
        atomic_write_text(path, json.dumps(result, indent=2))
        changed += 1
    return changed


def tag_summary(summary: dict[str, Any], identity: dict[str, Any]) -> dict[str, Any]:
    summary["shard"] = identity
    for v in summary.get("verdicts", []):
        v.setdefault("host", identity["host"])
        v.setdefault("card", identity["card"])
    return summary


def run_shard(cfg, hw: str, shard_dir: Path | None = None, generate: bool = False) -> int:
    """Run the shard of nightly config `cfg` for hardware `hw`; returns the nightly's exit code."""
    from srharness import nightly
    from srharness.farm.identity import shard_identity

    if hw not in HARDWARE:
        raise nightly.NightlyConfigError(f"--shard {hw}: unknown hardware; known: {', '.join(HARDWARE)}")
    identity = shard_identity(hw, cfg.root)
    name = shard_name(hw, identity["host"])
    shard_dir = Path(shard_dir or cfg.out_dir / "shards" / name).resolve()
    if shard_dir.is_dir():
        strangers = sorted(p.name for p in shard_dir.iterdir() if p.name not in SHARD_ENTRIES)
        if strangers:
            raise nightly.NightlyConfigError(f"shard folder {shard_dir} holds files that are not a shard's "
                                             f"({', '.join(strangers[:5])}); point --shard-dir at a folder of its own")
    shard_dir.mkdir(parents=True, exist_ok=True)
    scfg = replace(cfg, require=[hw], markers=shard_markers(cfg.markers, hw), out_dir=shard_dir)
    write_json(shard_dir / SHARD_FILE, {
        "schema": SCHEMA, "name": name, "hardware": hw, "host": identity["host"], "identity": identity,
        "config": str(cfg.path), "markers": scfg.markers, "status": "running", "started": now_iso(),
        "finished": None, "exit_code": None})
    print(f"srharness nightly: shard {name} ({identity['card']}) -> {shard_dir}", flush=True)
    rc = nightly.run_nightly(scfg, generate=generate)

    tag_results(scfg.results_dir, identity)
    env = nightly.environment_properties(scfg)
    env.update({"host": identity["host"], "shard": name, "card": identity["card"], "srharness": identity["srharness"]})
    nightly.write_environment(scfg.results_dir, env)
    if scfg.summary_json.is_file():
        summary = json.loads(scfg.summary_json.read_text(encoding="utf-8"))
        write_json(scfg.summary_json, tag_summary(summary, identity))
    update_state(shard_dir, status=FINISHED, exit_code=rc, finished=now_iso())
    return rc
