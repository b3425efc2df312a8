"""`srharness farm-node`: join (or start) the Ray cluster advertising this host's cards.

A thin wrapper around `ray start`: the cards srharness's detectors find become Ray custom
resources with their device counts (`--resources '{"cpu": 1, "ascend": 4}'`), and the host's
farm name becomes the node label `srharness-host` (and SRHARNESS_HOST_NAME in the node's
environment, so shards run there carry it).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from srharness.farm.identity import HOST_ENV, check_host_name, host_name, resources

HOST_LABEL = "srharness-host"


def ray_executable() -> str:
    beside = Path(sys.executable).parent / "ray"    # the venv's own `ray`, even when the venv is not on PATH
    return str(beside) if beside.is_file() else (shutil.which("ray") or "ray")


def ray_start_command(name: str | None = None, address: str | None = None, head: bool = False,
                      extra: list[str] | None = None) -> tuple[list[str], dict[str, str], dict[str, int]]:
    """(argv, environment additions, resources) of the `ray start` that makes this host a farm node."""
    if head == bool(address):
        raise ValueError("give either --head (start the cluster here) or --address HEAD:PORT (join it)")
    name = check_host_name(name) if name else host_name()
    res = resources()
    cmd = [ray_executable(), "start", "--resources", json.dumps(res, sort_keys=True), "--labels", f"{HOST_LABEL}={name}"]
    cmd += ["--head"] if head else ["--address", address]
    return cmd + list(extra or []), {HOST_ENV: name}, res


def start_node(name: str | None, address: str | None, head: bool, extra: list[str], dry_run: bool,
               as_json: bool) -> int:
    import subprocess
    cmd, env_add, res = ray_start_command(name, address, head, extra)
    if as_json:
        print(json.dumps({"host": env_add[HOST_ENV], "resources": res, "labels": {HOST_LABEL: env_add[HOST_ENV]},
                          "command": cmd}, indent=2))
    else:
        print(f"srharness farm-node: {env_add[HOST_ENV]} offers {res or 'nothing srharness can test'}")
        print("srharness farm-node: " + " ".join(cmd), flush=True)
    if dry_run:
        return 0
    if not Path(cmd[0]).is_file() and shutil.which(cmd[0]) is None:
        raise ValueError(f"`ray` not found ({cmd[0]}): install the farm extra, `pip install 'srharness[farm]'`")
    return subprocess.run(cmd, env=dict(os.environ, **env_add)).returncode
