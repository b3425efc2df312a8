"""Run one vendor tool (atc, benchmark, vamc, vamp, trtexec, npu-smi): an argv list, a timeout,
the full log kept in a file for the report, and on failure a `ToolError` carrying the command
line and the tool's last lines.

    result = run_tool(["atc", "--framework=5", ...], log_dir=work, timeout=600)
    result.log_path      # the whole stdout+stderr, kept
    result.command       # the shell-quoted command line, for the report
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from srharness.errors import SrHarnessError

TAIL_LINES = 20


class ToolError(SrHarnessError, RuntimeError):
    """A tool that is missing, timed out or exited non-zero."""

    def __init__(self, message: str, command: str, tail: str = "", log_path: Path | None = None):
        self.command, self.tail, self.log_path = command, tail, log_path
        parts = [message, f"  command: {command}"]
        if log_path is not None:
            parts.append(f"  full log: {log_path}")
        if tail:
            parts.append("  last lines:\n" + "\n".join("    " + l for l in tail.splitlines()))
        super().__init__("\n".join(parts))


@dataclass
class ToolResult:
    argv: list[str]
    command: str
    returncode: int
    output: str          # stdout and stderr interleaved as the tool wrote them
    log_path: Path
    seconds: float
    cwd: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["log_path"] = str(self.log_path)
        d.pop("output")
        return d


def command_line(argv: list[str]) -> str:
    return shlex.join(str(a) for a in argv)


def _tail(text: str, n: int = TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-n:])


def run_tool(argv: list[str], *, log_dir: str | Path, timeout: float, cwd: str | Path | None = None,
             env: dict[str, str] | None = None, log_name: str | None = None) -> ToolResult:
    """Run `argv` to completion. The log file is `<log_dir>/<log_name or tool>.log`; a second call
    with the same name gets a numbered file, so no log is overwritten."""
    argv = [str(a) for a in argv]
    command = command_line(argv)
    if shutil.which(argv[0], path=(env or os.environ).get("PATH")) is None and not Path(argv[0]).is_file():
        raise ToolError(f"{argv[0]}: not found on PATH (install the vendor toolkit or source its set_env.sh)", command)
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    stem = log_name or Path(argv[0]).name
    log_path = log_dir / f"{stem}.log"
    n = 1
    while log_path.exists():
        n += 1
        log_path = log_dir / f"{stem}.{n}.log"
    start = time.monotonic()
    with open(log_path, "w", encoding="utf-8", errors="replace") as log:
        log.write(f"$ {command}\n")
        log.flush()
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:   # not executable, a folder, a bad interpreter line, a missing cwd
            raise ToolError(f"{argv[0]}: cannot run it ({exc.strerror or exc})", command, "", log_path) from None
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # The tool's own process group: vendor tools spawn helpers that must not outlive it.
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
            proc.wait()
            text = log_path.read_text(encoding="utf-8", errors="replace")
            raise ToolError(f"{argv[0]}: timed out after {timeout:g} s", command,
                            _tail(text.split("\n", 1)[-1]), log_path) from None
    seconds = time.monotonic() - start
    # errors="replace": vendor tools print GBK/Latin-1 too; their bytes never crash the harness
    output = log_path.read_text(encoding="utf-8", errors="replace").split("\n", 1)[-1]
    if returncode != 0:
        raise ToolError(f"{argv[0]}: exited with status {returncode}", command, _tail(output), log_path)
    return ToolResult(argv, command, returncode, output, log_path, seconds, str(cwd or os.getcwd()))
