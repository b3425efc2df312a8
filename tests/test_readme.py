"""Every shell command in README.md runs, as written, with the output it promises checked (issue 21).

Commands are read from the README's ```sh blocks (a `\\` continues a line; a `cd DIR` line moves the
block's later commands there). They run in a fresh copy of this clone (its tracked and new files),
with ../shared/data beside it when the shared data is here, and this environment's `srharness`,
`pytest` and `.venv/bin/...` first on PATH. A README command's comment may say `(needs: ...)`:
`data` (skipped without the shared data), `cuda` (skipped without a GPU), `ci` (it is .ci/run's
own command: checked to be there), `long` (minutes; the test its comment names runs it).

A command with no entry in PROMISES fails: a new README command must say what it promises here.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DATA = Path(os.environ.get("SRHARNESS_DATA_DIR") or ROOT.parent / "shared" / "data")
HAS_DATA = (DATA / "set5").is_dir()


@dataclass(frozen=True)
class Command:
    text: str          # the command as the README writes it (continuations joined)
    needs: frozenset
    cwd: str           # relative to the clone, from an earlier `cd` in the same block
    line: int

    def __str__(self):
        return f"README.md:{self.line}: {self.text}"


def readme_commands(text: str) -> list[Command]:
    out, in_sh, cwd, pending, start = [], False, ".", "", 0
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            in_sh, cwd = line.strip() == "```sh", "."
            continue
        if not in_sh or (not pending and not line.strip()):
            continue
        if not pending:
            start = n
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full, pending = pending + line, ""
        code, _, comment = full.partition("  #")      # a comment starts after two spaces
        code = " ".join(code.split())
        m = re.search(r"\(needs: ([^)]*)\)", comment)
        needs = frozenset(p.split(":")[0].strip() for p in m.group(1).split(",")) if m else frozenset()
        if code.startswith("cd "):
            cwd = os.path.normpath(os.path.join(cwd, code[3:].strip()))
            continue
        out.append(Command(code, needs, cwd, start))
    return out


COMMANDS = readme_commands(README.read_text(encoding="utf-8"))


def _json(proc) -> dict:
    return json.loads(proc.stdout)


def _said_random_init(proc) -> bool:
    from srharness.deploy import RANDOM_INIT
    return RANDOM_INIT in proc.stdout + proc.stderr


# regex on the command -> check of the finished process and its folder. What each README line promises.
PROMISES: list[tuple[str, object]] = [
    (r"^srharness doctor --json$", lambda p, d: {"hardware", "libraries", "tools"} <= set(_json(p))),
    (r"^srharness export rdn .*-o rdn\.onnx --json$",
     lambda p, d: (d / "rdn.onnx").stat().st_size > 0 and _json(p)),
    (r"^srharness eval vdsr .*--dataset set5 .*--json$",
     lambda p, d: 30 < _json(p)["mean_psnr"] < 40 and _json(p)["dataset"] == "set5"),
    (r"^srharness bench vdsr --backend ort .*--json$", lambda p, d: _json(p)),
    (r"^srharness bench rdn --backend torch-cuda-fp16 ", lambda p, d: "fps_gpu_compute" in p.stdout),
    (r"^srharness bench rcan-sr4k --variants all ", lambda p, d: "|" in p.stdout),
    (r"^srharness parse-log vamp .*--json$", lambda p, d: _json(p)["throughput_qps"] == 20.9133),
    (r"^srharness golden check golden/$", lambda p, d: re.search(r"golden: OK, \d+ figures", p.stdout)),
    (r"^srharness golden list$", lambda p, d: "vdsr/x4/set5/psnr/vacc-fp16 " in p.stdout),
    (r"^srharness train --steps 60 ",
     lambda p, d: re.search(r"L1 loss .* -> .*\(last step\)", p.stdout) and "checkpoint" in p.stdout),
    (r"^srharness nightly --config nightly\.example\.yaml$",
     lambda p, d: json.loads((d / "out" / "nightly" / "summary.json").read_text())["verdicts"]),
    (r"^srharness compare$", lambda p, d: p.stdout.strip()),
    (r"^srharness --version$", lambda p, d: re.fullmatch(r"srharness \S+\n", p.stdout)),
    (r"^srharness where suites$", lambda p, d: (Path(p.stdout.strip()) / "rcan" / "test_vacc.py").is_file()),
    (r"^eval \"\$\(srharness fakes\)\"$", lambda p, d: True),     # checked below: vamc found afterwards
    (r"^srharness example nightly > nightly\.yaml$", lambda p, d: "suites:" in (d / "nightly.yaml").read_text()),
    (r"^srharness new-model espcn2 --kind y-lr --scales 3$",
     lambda p, d: "espcn2/x3/embedded/psnr/recorded" in (d / "espcn2" / "golden" / "espcn2.yaml").read_text()),
    (r"^srharness diagnose --msit-csv fixtures/msit/", lambda p, d: "msit compare:" in p.stdout),
    # with the data: both of golden/espcn.yaml's Set5 figures judged (not 0/0 from a wrong rootdir)
    (r"^\.\./\.\./\.venv/bin/pytest -m cpu ", lambda p, d: "golden figures judged 2/2" in p.stdout),
    (r"^\.\./\.\./\.venv/bin/srharness eval espcn ", lambda p, d: "psnr" in p.stdout.lower()),
    # no --weights: the export says it used the seeded random init (srharness.deploy.RANDOM_INIT)
    (r"^\.\./\.\./\.venv/bin/srharness export espcn .*-o espcn_x3\.onnx$",
     lambda p, d: (d / "espcn_x3.onnx").stat().st_size > 0 and _said_random_init(p)),
    (r"^\.\./\.\./\.venv/bin/srharness bench espcn ", lambda p, d: p.stdout.strip()),
]
# The README commands .ci/run runs itself, and the line of .ci/run that does it.
CI_LINES = {
    "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/pytest -m cpu -n auto":
        (".venv/bin/pip install -q -e '.[farm]'", ".venv/bin/pytest -m cpu -n auto"),
    ".venv/bin/pytest tests -n auto": (".venv/bin/pytest tests -n auto",),
    ".venv/bin/pip install -e examples/espcn": (".venv/bin/pip install -q -e examples/espcn",),
}
# README commands known to break today, each with its issue: a strict xfail, so the fix landing
# turns it into a failure that says to remove the entry here.
# README commands known to be broken, each a strict xfail naming its issue (none today: the
# space-separated --sr-data-dir of issue 19 now judges 2/2 in the example project).
KNOWN_BROKEN: dict[str, str] = {}
# Whole-run commands, narrowed by pytest's own environment variable (the command line stays as written).
NARROW = {r"^srharness nightly ": "-k 'srcnn and TestExport and not dynamic'"}


def _promise(cmd: Command):
    found = [check for pattern, check in PROMISES if re.search(pattern, cmd.text)]
    assert found, f"{cmd}: no entry in tests/test_readme.py PROMISES saying what its output promises"
    return found[0]


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A fresh copy of this clone (tracked and new files, as a push would carry them)."""
    base = tmp_path_factory.mktemp("readme")
    dst = base / "clone"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    (dst / ".venv").symlink_to(sys.prefix)           # the README's .venv/bin/... is this environment
    if HAS_DATA:
        (base / "shared").mkdir()
        (base / "shared" / "data").symlink_to(DATA)
    return dst


def _env(clone: Path, cmd: Command) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SRHARNESS_", "PYTEST_XDIST"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["SRHARNESS_LOCK_DIR"] = str(clone / ".locks")
    env.setdefault("OMP_NUM_THREADS", "1")
    for pattern, narrow in NARROW.items():
        if re.search(pattern, cmd.text):
            env["PYTEST_ADDOPTS"] = narrow
    return env


def run_readme_command(clone: Path, cmd: Command):
    cwd = clone / cmd.cwd
    return subprocess.run(["bash", "-c", f"set -o pipefail; {cmd.text}"], cwd=cwd, env=_env(clone, cmd),
                          capture_output=True, text=True, timeout=1200)


def _skip_reason(cmd: Command) -> str | None:
    if "cuda" in cmd.needs:
        import torch
        if not torch.cuda.is_available():
            return f"{cmd}: needs a GPU (torch.cuda is not available)"
    if "data" in cmd.needs and not HAS_DATA:
        return f"{cmd}: needs the shared data ({DATA}; set SRHARNESS_DATA_DIR)"
    if "long" in cmd.needs:
        return f"{cmd}: takes minutes; run by the test its comment names"
    return None


def test_readme_has_commands():
    texts = [c.text for c in COMMANDS]
    assert len(texts) >= 25 and len(set(texts)) == len(texts)
    for cmd in COMMANDS:
        if "ci" not in cmd.needs and "long" not in cmd.needs:
            _promise(cmd)                       # every command says what it promises


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if "ci" in c.needs or c.text in CI_LINES], ids=str)
def test_ci_runs_the_readme_setup_commands(cmd):
    ci = (ROOT / ".ci" / "run").read_text()
    assert cmd.text in CI_LINES, f"{cmd}: marked (needs: ci) but not in CI_LINES"
    for line in CI_LINES[cmd.text]:
        assert line in ci, f".ci/run no longer runs {line!r} ({cmd})"


# ordered as in the README: `compare` reads the history the nightly before it wrote
RUNNABLE = [c for c in COMMANDS if "ci" not in c.needs and c.text not in CI_LINES]


@pytest.mark.slow
@pytest.mark.parametrize("cmd", RUNNABLE, ids=str)
def test_readme_command_runs_as_written(clone, cmd, request):
    reason = _skip_reason(cmd)
    if reason:
        pytest.skip(reason)
    if cmd.cwd != "." and cmd.cwd.startswith("examples/"):
        import importlib.util
        if importlib.util.find_spec("espcn_example") is None:
            pytest.skip(f"{cmd}: the example project is not installed here (.ci/run installs it)")
    check = _promise(cmd)
    for pattern, why in KNOWN_BROKEN.items():
        if re.search(pattern, cmd.text):
            request.applymarker(pytest.mark.xfail(strict=True, reason=why))
    if cmd.text == COMPARE.text:
        pytest.skip(f"{cmd}: run by the test of the line before it ({NIGHTLY}), on the two runs it archives")
    _run_and_check(clone, cmd, check)
    if cmd.text == NIGHTLY.text:
        # compare reads the last two runs the nightly archived: here, in this copy, so that under xdist
        # it cannot land on another worker's copy and run the nightly twice more (~10 CPU-s each)
        assert run_readme_command(clone, cmd).returncode == 0
        _run_and_check(clone, COMPARE, _promise(COMPARE))


(NIGHTLY,) = [c for c in RUNNABLE if c.text.startswith("srharness nightly --config nightly.example")]
(COMPARE,) = [c for c in RUNNABLE if c.text == "srharness compare"]


def _run_and_check(clone, cmd, check):
    proc = run_readme_command(clone, cmd)
    assert proc.returncode == 0, f"{cmd}\nexit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert check(proc, clone / cmd.cwd), f"{cmd}: output not as promised\n{proc.stdout[-3000:]}"


def test_fakes_line_puts_vamc_on_path(clone):
    (cmd,) = [c for c in COMMANDS if "srharness fakes" in c.text]
    proc = subprocess.run(["bash", "-c", f"{cmd.text} && command -v vamc"], cwd=clone, env=_env(clone, cmd),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("fake_tools/vamc"), proc.stdout + proc.stderr
