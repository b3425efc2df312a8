"""Hostile and careless input, one case per kind: every case must end in a clear error that names
the offending file or value (or, for inputs with a documented conversion, in the right result),
never a traceback, never a wrong figure with exit 0, never code executed.

CLI cases run in-process through `srharness.cli.main` (a subprocess per case would cost ~2 s of
imports each). Each case states what the message must name.

The same cases classify any srharness tree, which is how the before/after table of issue 10 was
measured:

    PYTHONPATH=/path/to/other/tree .venv/bin/python tests/test_bad_input.py   # prints the table
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import struct
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

LOGS = Path(__file__).resolve().parents[1] / "fixtures" / "logs"
GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"
DATA_DIR = Path(os.environ.get("SRHARNESS_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))

# What a clear error is: one of the project's own error types (by name, so the same cases can
# classify an older tree), or argparse's usage error (SystemExit 2 with the option named).
USER_ERRORS = {"LogParseError", "CheckpointError", "ProtocolError", "DatasetError", "GoldenError", "FigureError",
               "ExportError", "TrainingError", "NightlyConfigError", "UsageError", "CliError", "ToolError",
               "RefusedGlobal", "TimeoutError", "SrHarnessError"}
CASE_TIMEOUT_S = 60


@dataclass
class Case:
    id: str
    area: str
    argv: list[str] | None = None                       # a CLI case: srharness ARGV ("{tmp}" is the case folder)
    call: Callable[[Path], Any] | None = None           # an API case: call(tmp)
    setup: Callable[[Path], None] | None = None
    expect: tuple[str, ...] = ()                        # the message names these ("{tmp}" formatted)
    errors: tuple[str, ...] = ()                        # API: extra exception names that count as clear
    ok: Callable[[Any, Path], bool] | None = None       # a documented conversion: success checked by this
    env: dict[str, str] = field(default_factory=dict)
    marker: str | None = None                           # a file that exists only if the input's code ran
    unsafe_before: str | None = None                    # the old tree would exhaust memory: its outcome, not run
    needs_data: bool = False
    forbid: tuple[str, ...] = ()                        # the message must not say these (e.g. torch's unsafe advice)
    post: Callable[[Path], str | None] | None = None    # checked whatever the outcome: a problem, or None
    context: Callable[[Path], Any] | None = None        # a context manager around the run (registry snapshot)


@dataclass
class Outcome:
    code: int | None = None
    out: str = ""
    err: str = ""
    exc: BaseException | None = None
    result: Any = None
    seconds: float = 0.0
    timed_out: bool = False
    rss_growth_mb: float = 0.0


class _Timeout(BaseException):
    pass


def _maxrss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(case: Case, tmp: Path, timeout: float = CASE_TIMEOUT_S) -> Outcome:
    if case.setup:
        case.setup(tmp)
    saved_env = {k: os.environ.get(k) for k in case.env}
    os.environ.update({k: v.format(tmp=tmp) for k, v in case.env.items()})
    out, err = io.StringIO(), io.StringIO()
    outcome = Outcome()
    use_alarm = threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM")
    if use_alarm:
        def on_alarm(*_):
            raise _Timeout()
        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(int(timeout))
    rss0 = _maxrss_mb()
    start = time.monotonic()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                (case.context(tmp) if case.context else contextlib.nullcontext()):
            if case.argv is not None:
                from srharness.cli import main
                try:
                    outcome.code = main([a.format(tmp=tmp) for a in case.argv])
                except SystemExit as exc:   # argparse refuses an option with exit status 2
                    outcome.code = exc.code if isinstance(exc.code, int) else 1
                    if exc.code not in (0, 1, 2):
                        print(exc.code, file=sys.stderr)
            else:
                outcome.result = case.call(tmp)
    except _Timeout:
        outcome.timed_out = True
    except BaseException as exc:  # noqa: BLE001 - classified below
        outcome.exc = exc
    finally:
        if use_alarm:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    outcome.seconds = time.monotonic() - start
    outcome.rss_growth_mb = _maxrss_mb() - rss0
    outcome.out, outcome.err = out.getvalue(), err.getvalue()
    return outcome


def _is_user_error(exc: BaseException, extra: tuple[str, ...]) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & (USER_ERRORS | set(extra)))


def classify(case: Case, o: Outcome, tmp: Path) -> tuple[str, str]:
    """(clear | vague | traceback | wrong | executed | hang, why)."""
    if case.marker and (tmp / case.marker).exists():
        return "executed", f"{case.marker} was created: the input's code ran"
    if o.timed_out:
        return "hang", f"still running after {CASE_TIMEOUT_S} s"
    problem = case.post(tmp) if case.post else None
    if problem:
        return "wrong", problem
    text = o.out + o.err
    if "Traceback (most recent call last)" in text:
        return "traceback", text[-600:]
    if o.rss_growth_mb > 1024:
        return "wrong", f"allocated {o.rss_growth_mb:.0f} MB for a small file (unbounded)"
    if o.exc is not None and not _is_user_error(o.exc, case.errors):
        return "traceback", f"{type(o.exc).__name__}: {str(o.exc)[:400]}"
    if case.ok is not None:
        if o.exc is None and o.code in (None, 0):
            try:
                good = case.ok(o.result if case.argv is None else o.out, tmp)
            except Exception as exc:  # noqa: BLE001
                return "traceback", f"checking the result raised {type(exc).__name__}: {exc}"
            return ("clear", "handled as documented") if good else ("wrong", f"result {str(o.result)[:300]}")
        message = str(o.exc) if o.exc is not None else text
        return "wrong", f"refused, but it has a documented conversion: {message[:300]}"
    if o.exc is None and o.code in (None, 0):
        shown = o.result if case.argv is None else text
        return "wrong", f"accepted with exit 0: {str(shown)[:300]}"
    message = str(o.exc) if o.exc is not None else text
    missing = [e.format(tmp=tmp) for e in case.expect if e.format(tmp=tmp) not in message]
    if missing:
        return "vague", f"message lacks {missing}: {message[:400]}"
    said = [f for f in case.forbid if f in message]
    if said:
        return "vague", f"message says {said}: {message[:400]}"
    return "clear", message.splitlines()[0][:200] if message else ""


# ============================================================================ helpers
def _write(name: str, content: str | bytes):
    def setup(tmp: Path):
        p = tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
    return setup


def _both(*setups):
    def setup(tmp: Path):
        for s in setups:
            s(tmp)
    return setup


def _log(name: str) -> str:
    return (LOGS / name).read_text(encoding="utf-8")


BENCH = _log("benchmark_srcnn_perf_vision_batchsize_1_device_0.txt")
AIS = _log("ais_bench_resnet50_bs1.txt")
VAMP = _log("vamp_rcan_sr4k_2-2-16_i1.txt")
TRT_OLD = _log("trtexec_rdn_t4_fp16.txt")
OPSTAT = _log("op_statistic_0_1_rdn_before_fix.csv")
TRT_NEW = ("[05/27/2023-12:05:31] [I] Throughput: 120.699 qps\n"
           "[05/27/2023-12:05:31] [I] GPU Compute Time: min = 8.9 ms, max = 11.5 ms, mean = 9.6 ms, median = 9.5 ms, "
           "percentile(99%) = 11.3 ms\n")
AIS_JSON = {"NPU_compute_time": {"min": 1.0, "max": 3.0, "mean": 2.0, "median": 2.0, "percentile(99%)": 2.9},
            "throughput": 500.0}


def _parse_case(cid: str, tool: str, text: str | bytes, expect: tuple[str, ...] = (), name: str = "tool.log",
                extra: tuple[str, ...] = ()) -> Case:
    return Case(cid, "parser", argv=["parse-log", tool, f"{{tmp}}/{name}", "--json", *extra],
                setup=_write(name, text), expect=("{tmp}/" + name, *expect))


def _sub(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _png(name: str, arr: np.ndarray):
    def setup(tmp: Path):
        from PIL import Image
        p = tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(p)
    return setup


def _png_header(name: str, w: int, h: int):
    """A PNG whose header declares w x h (the pixel data is never needed to refuse it)."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return _write(name, data)


def _cv2_png(name: str, arr: np.ndarray):
    def setup(tmp: Path):
        import cv2
        p = tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(p), arr)
    return setup


RNG = np.random.default_rng(10)
IMG64 = RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)
GRAY16 = (RNG.integers(0, 65536, (32, 32))).astype(np.uint16)
RGB16_BGR = (RNG.integers(0, 65536, (24, 24, 3))).astype(np.uint16)


def _read_folder_first(tmp: Path, folder: str = "imgs"):
    from srharness.data.datasets import load_dataset
    return load_dataset("folder", tmp / folder).samples[0].hr()


def _dataset(name: str, scale: int, what: str = "hr", folder: str = "data"):
    def call(tmp: Path):
        from srharness.data.datasets import load_dataset
        ds = load_dataset(name, tmp / folder, scale)
        out = []
        for s in ds:
            out.append(s.hr() if what == "hr" else s.lr() if what == "lr" else s.extra["bicubic_up"](scale))
        return out
    return call


def _selfexsr(scale: int, lr_size: int, hr_size: int = 64):
    def setup(tmp: Path):
        from PIL import Image
        folder = tmp / "data" / "set5" / f"selfexsr_SRF_{scale}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(1, 6):
            Image.fromarray(IMG64[:hr_size, :hr_size]).save(folder / f"img_{i:03d}_SRF_{scale}_HR.png")
            Image.fromarray(IMG64[:lr_size, :lr_size]).save(folder / f"img_{i:03d}_SRF_{scale}_LR.png")
    return setup


def _set5(bicubic_size: int):
    def setup(tmp: Path):
        from PIL import Image
        hr = tmp / "data" / "set5" / "hr"
        bic = tmp / "data" / "set5" / "bicubic_up_x2"
        hr.mkdir(parents=True, exist_ok=True)
        bic.mkdir(parents=True, exist_ok=True)
        Image.fromarray(IMG64).save(hr / "bird_GT.bmp")
        Image.fromarray(IMG64[:bicubic_size, :bicubic_size]).save(bic / "bird_GT_scale_2.bmp")
    return setup


def _mat(im_gt, im_gt_y=None, im_b_y=None, name="bird_GT_x2.mat"):
    def setup(tmp: Path):
        import scipy.io
        folder = tmp / "data" / "set5" / "vdsr_mat"
        folder.mkdir(parents=True, exist_ok=True)
        gy = np.zeros((16, 16)) + 100.0 if im_gt_y is None else im_gt_y
        by = np.zeros((16, 16)) + 90.0 if im_b_y is None else im_b_y
        scipy.io.savemat(folder / name, {"im_gt": im_gt, "im_gt_y": gy, "im_b_y": by})
    return setup


# ---------------------------------------------------------------- checkpoints
def _srcnn_sd(transform=None):
    from srharness.models import build_model
    sd = build_model("srcnn", 2, seed=3).state_dict()
    return {k: (transform(v) if transform else v) for k, v in sd.items()}


def _save_sd(name: str, transform=None):
    def setup(tmp: Path):
        import torch
        torch.save(_srcnn_sd(transform), tmp / name)
    return setup


def _nan_first(v):
    v = v.clone()
    v.view(-1)[0] = float("nan")
    return v


def _inf_first(v):
    v = v.clone()
    v.view(-1)[0] = float("inf")
    return v


def _legacy_bomb(name: str, numel: int = 10 ** 9):
    """A legacy (pre-zip) checkpoint of ~400 bytes whose storage declares `numel` float32 elements."""
    def setup(tmp: Path):
        import torch
        path = tmp / name
        torch.save({"w": torch.zeros(123457)}, path, _use_new_zipfile_serialization=False)
        raw = path.read_bytes().replace(struct.pack("<i", 123457), struct.pack("<i", numel))
        path.write_bytes(raw[: raw.index(struct.pack("<i", numel) + b"\x00" * 4) + 8])   # header, no data
    return setup


# 1 GiB for the before/after table (the old loader inflated it all); 64 MiB in CI: the check that
# refuses a compressed entry is the same, and deflating 1 GiB of zeros costs ~5 s of CPU.
BOMB_BYTES = 1 << 30 if __name__ == "__main__" else 1 << 26


def _zip_bomb(name: str, nbytes: int = 1 << 30):
    """A ~1 MB torch zip checkpoint whose one storage is `nbytes` of zeros, deflated."""
    def setup(tmp: Path):
        import torch
        small = tmp / "small.pt"
        torch.save({"w": torch.zeros(123457)}, small)
        with zipfile.ZipFile(small) as src:
            entries = [(i.filename, src.read(i)) for i in src.infolist()]
        small.unlink()
        with zipfile.ZipFile(tmp / name, "w") as dst:
            for entry, data in entries:
                if entry.endswith("data.pkl"):   # declare nbytes / 4 elements (size and storage numel)
                    data = data.replace(struct.pack("<i", 123457), struct.pack("<i", nbytes // 4))
                if not entry.endswith("data/0"):
                    dst.writestr(entry, data)
                    continue
                info = zipfile.ZipInfo(entry)
                info.compress_type = zipfile.ZIP_DEFLATED
                with dst.open(info, "w", force_zip64=True) as f:
                    block = b"\x00" * (1 << 22)
                    for _ in range(nbytes // len(block)):
                        f.write(block)
    return setup


def _malicious_torch(name: str, marker: str):
    def setup(tmp: Path):
        import torch

        class Evil:
            def __reduce__(self):
                return os.system, (f"touch {tmp / marker}",)
        torch.save({"state_dict": _srcnn_sd(), "x": Evil()}, tmp / name)
    return setup


def _malicious_pickle(name: str, marker: str):
    def setup(tmp: Path):
        import pickle

        class Evil:
            def __reduce__(self):
                return os.system, (f"touch {tmp / marker}",)
        (tmp / name).write_bytes(pickle.dumps({"epoch": 1, "x": Evil()}, protocol=2))
    return setup


# Globals a malicious pickle reaches for; each must be refused by name, none may run.
EVIL_GLOBALS = [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("builtins", "exec"),
                ("subprocess", "check_output"), ("os", "popen"), ("importlib", "import_module"),
                ("runpy", "run_path"), ("builtins", "__import__"), ("torch.hub", "load")]


def _evil_raw(name: str, module: str, func: str, marker: str, zipped: bool = False):
    """A hand-written protocol-0 pickle calling module.func on a shell command (or a code string)."""
    def setup(tmp: Path):
        cmd = f"touch {tmp / marker}"
        arg = {"eval": f"__import__('os').system('{cmd}')", "exec": f"__import__('os').system('{cmd}')"}.get(func, cmd)
        data = f"c{module}\n{func}\n(V{arg}\ntR.".encode()
        if not zipped:
            (tmp / name).write_bytes(data)
            return
        import torch
        torch.save({"w": torch.zeros(2)}, tmp / "good.pt")
        with zipfile.ZipFile(tmp / "good.pt") as src, zipfile.ZipFile(tmp / name, "w") as dst:
            for info in src.infolist():
                dst.writestr(info.filename, data if info.filename.endswith("data.pkl") else src.read(info))
    return setup


def _load_into(name: str):
    def call(tmp: Path):
        from srharness.checkpoints import load_into
        return load_into("srcnn", 2, tmp / name)
    return call


def _load_sd(name: str):
    def call(tmp: Path):
        from srharness.checkpoints import load_state_dict
        return load_state_dict(tmp / name)
    return call


# ---------------------------------------------------------------- goldens
GOOD_GOLDEN = """\
model: rdn
defaults:
  rule: {type: relative, tolerance: 0.01, sides: one-sided}
figures:
  - id: rdn/x2/set5/psnr/repo
    metric: psnr
    unit: dB
    value: 38.18
    protocol: rdn-yjn870
    hardware: cpu
    backend: torch
    source: {document: seeds/002.txt}
"""


def _golden_case(cid: str, text: str | bytes, expect: tuple[str, ...] = (), cmd: str = "check",
                 marker: str | None = None) -> Case:
    if cmd == "check":
        argv = ["golden", "check", "{tmp}/g/rdn.yaml"]
    elif cmd == "list":
        argv = ["golden", "list", "--golden-dir", "{tmp}/g"]
    else:
        argv = ["golden", "judge", "--golden-dir", "{tmp}/g", "rdn/x2/set5/psnr/repo", "38.0"]
    return Case(cid, "golden", argv=argv, setup=_write("g/rdn.yaml", text), expect=("{tmp}/g/rdn.yaml", *expect),
                marker=marker)


def _g(old: str, new: str) -> str:
    return _sub(GOOD_GOLDEN, old, new)


def _alias_bomb(levels: int = 7, width: int = 9) -> str:
    """A billion-laughs style golden: each level repeats the previous one `width` times."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return GOOD_GOLDEN.replace("    source: {document: seeds/002.txt}\n",
                               "    source: {document: seeds/002.txt}\n    conditions:\n"
                               + "".join(f"      {line}\n" for line in lines))


# ---------------------------------------------------------------- eval on a tiny folder
def _eval_folder(*extra: str, size: int = 24, name: str = "a.png") -> tuple[list[str], Callable]:
    arr = RNG.integers(0, 256, (size, size, 3), dtype=np.uint8)
    return (["eval", "srcnn", "--dataset", "folder", "--data-dir", "{tmp}/imgs", "--protocol", "benchmark",
             "--work-dir", "{tmp}/work", *extra], _png(f"imgs/{name}", arr))


def _fake_tool(name: str, output: bytes):
    def setup(tmp: Path):
        bin_dir = tmp / "bin"
        bin_dir.mkdir(exist_ok=True)
        tool = bin_dir / name
        tool.write_text("#!/bin/sh\nprintf '" + "".join(f"\\{b:03o}" for b in output) + "'\n")
        tool.chmod(0o755)
        try:
            from srharness import hardware
            hardware.detect.cache_clear()
        except Exception:  # noqa: BLE001
            pass
    return setup


def _detect_uncached(name: str):
    """A detection with the fake tool on PATH, leaving no cached result behind for other tests."""
    from srharness import hardware
    clear = getattr(getattr(hardware, "detect", None), "cache_clear", lambda: None)
    clear()
    try:
        return hardware.detect(name)
    finally:
        clear()


def _nightly(text: str):
    def call(tmp: Path):
        from srharness.nightly import load_config
        p = tmp / "nightly.yaml"
        p.write_text(text)
        (tmp / "suites" / "srcnn").mkdir(parents=True, exist_ok=True)
        return load_config(p)
    return call


def _shape_env(value: str):
    def call(tmp: Path):
        os.environ["SRHARNESS_HW_SHAPE"] = value
        try:
            from srharness.checks import hardware
            if hasattr(hardware, "check_shape_env"):
                return hardware.check_shape_env()
            return hardware.hw_shape("srcnn")
        finally:
            os.environ.pop("SRHARNESS_HW_SHAPE", None)
    return call


def _output_path(path: str, *, directory: bool):
    def call(tmp: Path):
        from srharness.report import check_writable
        what = "--sr-history-dir" if directory else "--sr-summary-json"
        return check_writable(path.format(tmp=tmp), what, directory=directory)
    return call


def _perf_config(**kw):
    def call(tmp: Path):
        from srharness.perf import PerfConfig
        return PerfConfig(**kw)
    return call


def _stale_temp(tmp: Path):
    (tmp / "out").mkdir()
    import socket
    host = "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname())[:32] or "host"
    (tmp / "out" / f".result.json.{host}-99999999.abc123.tmp").write_text("half")   # a killed writer's
    (tmp / "out" / f".result.json.{host}-{os.getpid()}.live12.tmp").write_text("being written")


def _swept(_result, tmp: Path) -> bool:
    """The dead writer's temporary is gone; the live one (this process) is left alone."""
    left = sorted(p.name for p in (tmp / "out").iterdir())
    return len(left) == 2 and "result.json" in left and any(n.endswith(".live12.tmp") for n in left)


def _atomic_write(rel: str):
    def call(tmp: Path):
        from srharness.fileio import atomic_write_text
        return atomic_write_text(tmp / rel if not rel.startswith("/") else Path(rel), "{}")
    return call


def _full_disk(tmp: Path):
    """A writer that fails in its own words (torch: 'unexpected pos') while the disk is full."""
    import shutil
    from unittest import mock

    from srharness.fileio import atomic_path
    usage = shutil.disk_usage(tmp)
    with mock.patch("shutil.disk_usage", return_value=usage._replace(free=0)):
        with atomic_path(tmp / "model.onnx") as t:
            t.write_bytes(b"x" * 10)
            raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 56640 vs 56528")


def _bench(*extra: str) -> list[str]:
    return ["bench", "srcnn", "--backend", "ort", "--shape", "16x16", "--iterations", "2", "--warmup", "0",
            "--min-seconds", "0", *extra] if "--min-seconds" not in extra else \
        ["bench", "srcnn", "--backend", "ort", "--shape", "16x16", "--iterations", "2", "--warmup", "0", *extra]


def _train(*extra: str) -> list[str]:
    return ["train", "--steps", "1", "--groups", "1", "--blocks", "1", "--features", "16", "--patch", "8",
            "--batch", "2", "--out", "{tmp}/run", "--json", *extra]


def _big_line(tool_text: str, n: int, char: str = "a") -> str:
    return tool_text + "\n" + (char * n) + "\n"


def _timed_parse(tool: str, text: str, limit_s: float = 1.0):
    """Parse a hostile text; the verdict is the error, and it must come in linear time."""
    def call(tmp: Path):
        from srharness.tools.logs import PARSERS
        start = time.monotonic()
        try:
            return PARSERS[tool](text, f"{tmp}/long.log")
        finally:
            took = time.monotonic() - start
            if took > limit_s:
                raise AssertionError(f"{tool}: {len(text)} characters took {took:.1f} s (not linear)")
    return call


# ============================================================================ the cases
CASES: list[Case] = []


def add(*cases: Case) -> None:
    CASES.extend(cases)


# ---------------------------------------------------------------- parsers: Ascend benchmark
add(
    _parse_case("bench-interface-zero", "benchmark", _sub(BENCH, "Interface throughputRate: 348.038",
                                                          "Interface throughputRate: 0"), ("Interface throughputRate",)),
    _parse_case("bench-throughput-negative", "benchmark", _sub(BENCH, "Interface throughputRate: 348.038",
                                                               "Interface throughputRate: -348.0"), ("-348.0",)),
    _parse_case("bench-latency-1e999", "benchmark", _sub(BENCH, "moduleLatency: 3.4136", "moduleLatency: 1e999"),
                ("1e999",)),
    _parse_case("bench-latency-denormal", "benchmark", _sub(BENCH, "moduleLatency: 3.4136", "moduleLatency: 1e-320"),
                ("1e-320",)),
    _parse_case("bench-e2e-latency-zero", "benchmark", _sub(BENCH, "latency: 1334.43", "latency: 0.0"), ("latency",)),
    _parse_case("bench-second-infer-line-zeros", "benchmark",
                BENCH + "[infer] throughputRate: 0, Interface throughputRate: 0, moduleLatency: 0\n", ("[infer]",)),
    _parse_case("bench-missing-infer", "benchmark", "\n".join(l for l in BENCH.splitlines() if "[infer]" not in l),
                ("no [infer] line",)),
    _parse_case("bench-empty", "benchmark", "", ("no [",)),
    _parse_case("bench-binary", "benchmark", b"\x00\xff\xfe\x89garbage", ("no [",)),
    Case("bench-32k-line-linear", "parser",
         call=_timed_parse("benchmark", "[infer] " + "a " * 16000 + "\n"), expect=("long.log", "no [")),
    Case("bench-1mb-line-linear", "parser",
         call=_timed_parse("benchmark", BENCH + "[x] " + "ab " * 350000 + "\n"), expect=()
         , ok=lambda r, tmp: r.interface_throughput == 348.038),
    Case("bench-1mb-key-line-linear", "parser",
         call=_timed_parse("benchmark", "[e2e] " + "a" * 1_000_000 + ": 1\n"), expect=("long.log",)),
)

# ---------------------------------------------------------------- parsers: ais_bench
add(
    _parse_case("ais-json-nan", "ais_bench", json.dumps(AIS_JSON).replace("500.0", "NaN"), ("NaN",), "sumary.json"),
    _parse_case("ais-json-infinity", "ais_bench", json.dumps(AIS_JSON).replace("500.0", "Infinity"), ("Infinity",),
                "sumary.json"),
    _parse_case("ais-json-list-throughput", "ais_bench", json.dumps({**AIS_JSON, "throughput": [1, 2]}),
                ("throughput",), "sumary.json"),
    _parse_case("ais-json-string-throughput", "ais_bench", json.dumps({**AIS_JSON, "throughput": "fast"}),
                ("fast",), "sumary.json"),
    _parse_case("ais-json-zero-mean", "ais_bench",
                json.dumps({**AIS_JSON, "NPU_compute_time": {**AIS_JSON["NPU_compute_time"], "mean": 0}}),
                ("mean",), "sumary.json"),
    _parse_case("ais-json-negative-batch", "ais_bench", json.dumps({**AIS_JSON, "batchsize": -4}), ("batchsize",),
                "sumary.json"),
    _parse_case("ais-json-deep-nesting", "ais_bench", '{"a": ' + "[" * 100000 + "]" * 100000 + "}", ("invalid JSON", "recursion"),
                "sumary.json"),
    _parse_case("ais-json-truncated", "ais_bench", json.dumps(AIS_JSON)[:40], ("invalid JSON",), "sumary.json"),
    _parse_case("ais-console-throughput-zero", "ais_bench", _sub(AIS, ": 407.16610891670894", ": 0"), ("throughput",)),
    _parse_case("ais-console-mean-negative", "ais_bench", AIS.replace("mean = 2.4560000896453857", "mean = -2.4"),
                ("-2.4",)),
    _parse_case("ais-console-mean-above-max", "ais_bench", AIS.replace("mean = 2.4560000896453857", "mean = 99.0"),
                ("99.0",)),
    _parse_case("ais-console-1e999", "ais_bench", AIS.replace("median = 2.4560000896453857", "median = 1e999"),
                ("1e999",)),
    _parse_case("ais-console-second-summary", "ais_bench",
                AIS + "[INFO] throughput 1000*batchsize.mean(1)/NPU_compute_time.mean(2.0): 0.5\n",
                ("line 16", "NPU_compute_time.mean")),
    _parse_case("ais-console-no-summary", "ais_bench", "[INFO] acl init success\n", ("NPU_compute_time",)),
    Case("ais-32k-line-linear", "parser", call=_timed_parse("ais_bench", "x" * 32000 + " (ms) \n"),
         expect=("long.log", "NPU_compute_time")),
    Case("ais-1mb-line-linear", "parser", call=_timed_parse("ais_bench", "a_" * 500_000 + "\n"),
         expect=("long.log", "NPU_compute_time")),
)

# ---------------------------------------------------------------- parsers: vamp
add(
    _parse_case("vamp-throughput-zero", "vamp", _sub(VAMP, "throughput (qps): 36.1415", "throughput (qps): 0"),
                ("throughput (qps)",)),
    _parse_case("vamp-throughput-negative", "vamp", _sub(VAMP, "throughput (qps): 36.1415", "throughput (qps): -3"),
                ("-3",)),
    _parse_case("vamp-throughput-inf", "vamp", _sub(VAMP, "throughput (qps): 36.1415", "throughput (qps): 1e400"),
                ("1e400",)),
    _parse_case("vamp-latency-negative", "vamp", _sub(VAMP, "p99 latency: 83121", "p99 latency: -83121"),
                ("-83121",)),
    _parse_case("vamp-latency-zero", "vamp", _sub(VAMP, "p99 latency: 83121", "p99 latency: 0"), ("p99",)),
    _parse_case("vamp-ai-utilize-150", "vamp", _sub(VAMP, "ai utilize (%): 94.381", "ai utilize (%): 150"),
                ("150",)),
    _parse_case("vamp-batch-fraction", "vamp", _sub(VAMP, "batch size: 1", "batch size: 1.5"), ("1.5",)),
    _parse_case("vamp-instances-zero", "vamp", _sub(VAMP, "number of instances in each device: 1",
                                                    "number of instances in each device: 0"), ("instances",)),
    _parse_case("vamp-second-throughput", "vamp", VAMP + "throughput (qps): 99.0\n", ("throughput",)),
    _parse_case("vamp-avg-above-max", "vamp", VAMP.replace("avg latency: ", "avg latency: 9", 1), ("avg",)),
    _parse_case("vamp-missing-throughput", "vamp", "\n".join(l for l in VAMP.splitlines() if "throughput" not in l),
                ("throughput (qps)",)),
    Case("vamp-1mb-line-linear", "parser", call=_timed_parse("vamp", "devices: [" + "1," * 500_000 + "\n"),
         expect=("long.log",)),
)

# ---------------------------------------------------------------- parsers: trtexec
add(
    _parse_case("trt-mean-1e999", "trtexec", TRT_NEW.replace("mean = 9.6 ms", "mean = 1e999 ms"), ("1e999",)),
    _parse_case("trt-mean-denormal", "trtexec",
                TRT_NEW.replace("min = 8.9 ms", "min = 1e-320 ms").replace("mean = 9.6 ms", "mean = 1e-320 ms")
                .replace("median = 9.5 ms", "median = 1e-320 ms"), ("1e-320",)),
    _parse_case("trt-old-mean-zero", "trtexec", _sub(TRT_OLD, "mean: 39.3814 ms", "mean: 0 ms"), ("mean",)),
    _parse_case("trt-old-min-negative", "trtexec", _sub(TRT_OLD, "min: 38.6577 ms", "min: -1 ms"), ("-1",)),
    _parse_case("trt-old-mean-above-max", "trtexec", _sub(TRT_OLD, "mean: 39.3814 ms", "mean: 99.0 ms"), ("99.0",)),
    _parse_case("trt-qps-zero", "trtexec", TRT_NEW.replace("120.699 qps", "0 qps"), ("Throughput",)),
    _parse_case("trt-total-negative", "trtexec", _sub(TRT_OLD, "total compute time: 3.07175 s",
                                                      "total compute time: -3 s"), ("-3",)),
    _parse_case("trt-no-block", "trtexec", "[I] Starting inference\n", ("GPU Compute",)),
    Case("trt-1mb-line-linear", "parser", call=_timed_parse("trtexec", "GPU Compute Time: " + "min = 1" * 150_000),
         expect=("long.log",)),
)

# ---------------------------------------------------------------- parsers: op_statistic, npu-smi, parse-log
add(
    _parse_case("opstat-count-fraction", "op_statistic", OPSTAT.replace("TransData,AI Core,4,", "TransData,AI Core,4.7,"),
                ("4.7",), "op.csv"),
    _parse_case("opstat-carriage-return", "op_statistic", OPSTAT.replace("TransData", '"Trans\rData'), ("op.csv",),
                "op.csv"),
    _parse_case("opstat-ratio-150", "op_statistic", OPSTAT.replace("44.2515", "150"), ("150",), "op.csv"),
    _parse_case("opstat-ratio-negative", "op_statistic", OPSTAT.replace("44.2515", "-5"), ("-5",), "op.csv"),
    _parse_case("opstat-ratio-sum-over-100", "op_statistic", OPSTAT.replace("5.996379", "55.996379"),
                ("Ratio(%)",), "op.csv"),
    _parse_case("opstat-time-nan", "op_statistic", OPSTAT.replace("935253.6", "nan"), ("nan",), "op.csv"),
    _parse_case("opstat-time-negative", "op_statistic", OPSTAT.replace("935253.6", "-935253.6"), ("-935253.6",),
                "op.csv"),
    _parse_case("opstat-count-zero", "op_statistic", OPSTAT.replace("TransData,AI Core,4,", "TransData,AI Core,0,"),
                ("Count",), "op.csv"),
    _parse_case("opstat-header-only", "op_statistic", OPSTAT.splitlines()[0] + "\n", ("no op rows",), "op.csv"),
    _parse_case("npu-smi-no-row", "npu-smi", "+----+\n| nothing |\n", ("NPU row",)),
    Case("parse-log-hotspot-nan", "parser", setup=_write("op.csv", OPSTAT),
         argv=["parse-log", "op_statistic", "{tmp}/op.csv", "--hotspot-share", "nan"], expect=("--hotspot-share", "nan")),
    Case("parse-log-hotspot-150", "parser", setup=_write("op.csv", OPSTAT),
         argv=["parse-log", "op_statistic", "{tmp}/op.csv", "--hotspot-share", "150"], expect=("--hotspot-share", "150")),
    Case("parse-log-hotspot-negative", "parser", setup=_write("op.csv", OPSTAT),
         argv=["parse-log", "op_statistic", "{tmp}/op.csv", "--hotspot-share=-1"], expect=("--hotspot-share", "-1")),
    Case("parse-log-file-is-folder", "parser", argv=["parse-log", "vamp", "{tmp}"], expect=("{tmp}",)),
    Case("parse-log-dev-zero", "parser", argv=["parse-log", "vamp", "/dev/zero"], expect=("/dev/zero",),
         unsafe_before="hang"),
    Case("parse-log-missing-file", "parser", argv=["parse-log", "vamp", "{tmp}/absent.log"],
         expect=("{tmp}/absent.log",)),
    _parse_case("parse-log-non-utf8", "vamp", b"throughput (qps): \xff\xfe 36\n", ()),
)

# ---------------------------------------------------------------- checkpoints
add(
    Case("ckpt-legacy-declares-4gb", "checkpoint", setup=_legacy_bomb("bomb.pth"), call=_load_sd("bomb.pth"),
         expect=("{tmp}/bomb.pth", "4000000000", "before allocating")),
    Case("ckpt-zip-deflated-1gib", "checkpoint", setup=_zip_bomb("bomb.pt", BOMB_BYTES), call=_load_sd("bomb.pt"),
         expect=("{tmp}/bomb.pt", "compressed")),
    Case("ckpt-int64-weights", "checkpoint", setup=_save_sd("int.pth", lambda v: (v * 100).long()),
         call=_load_into("int.pth"), expect=("{tmp}/int.pth", "int64")),
    Case("ckpt-int32-weights", "checkpoint", setup=_save_sd("i32.pth", lambda v: v.int()),
         call=_load_into("i32.pth"), expect=("{tmp}/i32.pth", "int32")),
    Case("ckpt-bool-weights", "checkpoint", setup=_save_sd("b.pth", lambda v: v > 0),
         call=_load_into("b.pth"), expect=("{tmp}/b.pth", "bool")),
    Case("ckpt-nan-weights", "checkpoint", setup=_save_sd("nan.pth", _nan_first), call=_load_into("nan.pth"),
         expect=("{tmp}/nan.pth", "NaN")),
    Case("ckpt-inf-weights", "checkpoint", setup=_save_sd("inf.pth", _inf_first), call=_load_into("inf.pth"),
         expect=("{tmp}/inf.pth", "non-finite")),
    Case("ckpt-nan-weights-eval-json", "checkpoint", setup=_both(_save_sd("nan.pth", _nan_first),
                                                                 _eval_folder()[1]),
         argv=_eval_folder("--weights", "{tmp}/nan.pth", "--json")[0], expect=("{tmp}/nan.pth",)),
    Case("ckpt-nan-weights-export", "checkpoint", setup=_save_sd("nan.pth", _nan_first),
         argv=["export", "srcnn", "--weights", "{tmp}/nan.pth", "-o", "{tmp}/m.onnx"], expect=("{tmp}/nan.pth",)),
    Case("ckpt-malicious-torch-save", "checkpoint", setup=_malicious_torch("evil.pth", "pwned"),
         call=_load_sd("evil.pth"), expect=("{tmp}/evil.pth", "system"), marker="pwned"),
    Case("ckpt-malicious-bare-pickle", "checkpoint", setup=_malicious_pickle("evil.pkl", "pwned"),
         call=_load_sd("evil.pkl"), expect=("{tmp}/evil.pkl", "system"), marker="pwned"),
    Case("ckpt-malicious-export-cli", "checkpoint", setup=_malicious_torch("evil.pth", "pwned"),
         argv=["export", "srcnn", "--weights", "{tmp}/evil.pth", "-o", "{tmp}/m.onnx"],
         expect=("{tmp}/evil.pth",), marker="pwned"),
    *[Case(f"ckpt-evil-{m}.{f}".replace("_", ""), "checkpoint", setup=_evil_raw("evil.pth", m, f, "pwned"),
           call=_load_sd("evil.pth"), expect=("{tmp}/evil.pth", f"{m}.{f}"), marker="pwned") for m, f in EVIL_GLOBALS],
    Case("ckpt-evil-in-zip", "checkpoint", setup=_evil_raw("evil.pt", "os", "system", "pwned", zipped=True),
         call=_load_sd("evil.pt"), expect=("{tmp}/evil.pt", "os.system"), marker="pwned"),
    Case("ckpt-evil-resume", "checkpoint", setup=_evil_raw("ck.pt", "os", "system", "pwned", zipped=True),
         argv=_train("--resume", "{tmp}/ck.pt"), expect=("{tmp}/ck.pt",), marker="pwned", forbid=("weights_only",)),
    Case("ckpt-truncated", "checkpoint", setup=lambda tmp: (_save_sd("full.pth")(tmp), (tmp / "cut.pth").write_bytes(
        (tmp / "full.pth").read_bytes()[:3000])), call=_load_sd("cut.pth"), expect=("{tmp}/cut.pth",)),
    Case("ckpt-empty-file", "checkpoint", setup=_write("empty.pth", b""), call=_load_sd("empty.pth"),
         expect=("{tmp}/empty.pth",)),
    Case("ckpt-text-file", "checkpoint", setup=_write("notes.pth", "these are not weights\n"),
         call=_load_sd("notes.pth"), expect=("{tmp}/notes.pth",)),
    Case("ckpt-zip-without-pickle", "checkpoint",
         setup=lambda tmp: zipfile.ZipFile(tmp / "x.pt", "w").writestr("hello.txt", "hi"),
         call=_load_sd("x.pt"), expect=("{tmp}/x.pt",)),
    Case("ckpt-weights-is-folder", "checkpoint", argv=["export", "srcnn", "--weights", "{tmp}", "-o", "{tmp}/m.onnx"],
         expect=("{tmp}",)),
    Case("ckpt-wrong-architecture", "checkpoint",
         setup=lambda tmp: __import__("torch").save({"conv.weight": __import__("torch").zeros(3)}, tmp / "w.pth"),
         call=_load_into("w.pth"), expect=("{tmp}/w.pth", "does not fit")),
    Case("ckpt-nested-string", "checkpoint", setup=lambda tmp: __import__("torch").save({"model": "x"}, tmp / "s.pth"),
         call=_load_sd("s.pth"), expect=("{tmp}/s.pth",)),
    Case("train-resume-garbage", "checkpoint", setup=_write("ck.pt", b"\x80\x02garbage" * 10),
         argv=_train("--resume", "{tmp}/ck.pt"), expect=("{tmp}/ck.pt",), forbid=("weights_only",)),
    Case("train-resume-foreign-global", "checkpoint",
         setup=lambda tmp: __import__("torch").save({"c": __import__("fractions").Fraction(1, 3)}, tmp / "ck.pt"),
         argv=_train("--resume", "{tmp}/ck.pt"), expect=("{tmp}/ck.pt", "allow-list"), forbid=("weights_only",)),
    Case("train-resume-zip-bomb", "checkpoint", setup=_zip_bomb("ck.pt", 1 << 24),
         argv=_train("--resume", "{tmp}/ck.pt"), expect=("{tmp}/ck.pt", "compressed")),
)

# ---------------------------------------------------------------- images and datasets
add(
    Case("img-16bit-gray-png", "dataset", setup=_png("imgs/g.png", GRAY16), call=_read_folder_first,
         ok=lambda r, tmp: np.array_equal(r[..., 0], np.floor(GRAY16 / 257 + 0.5).astype(np.uint8))),
    Case("img-16bit-rgb-png", "dataset", setup=_cv2_png("imgs/c.png", RGB16_BGR), call=_read_folder_first,
         ok=lambda r, tmp: np.array_equal(r, np.floor(RGB16_BGR[..., ::-1] / 257 + 0.5).astype(np.uint8))),
    Case("img-float-tiff", "dataset", setup=_png("imgs/f.tif", RNG.random((16, 16)).astype(np.float32)),
         call=_read_folder_first, expect=("{tmp}/imgs/f.tif", "float")),
    Case("img-int32-tiff", "dataset", setup=_png("imgs/i.tif", RNG.integers(0, 70000, (16, 16)).astype(np.int32)),
         call=_read_folder_first, expect=("{tmp}/imgs/i.tif",)),
    Case("img-30000x30000-png", "dataset", setup=_png_header("imgs/big.png", 30000, 30000), call=_read_folder_first,
         expect=("{tmp}/imgs/big.png", "900000000")),
    Case("img-12000x12000-png", "dataset", setup=_png_header("imgs/big.png", 12000, 12000), call=_read_folder_first,
         expect=("{tmp}/imgs/big.png", "12000x12000")),
    Case("img-empty-file", "dataset", setup=_write("imgs/e.png", b""), call=_read_folder_first,
         expect=("{tmp}/imgs/e.png",)),
    Case("img-text-as-png", "dataset", setup=_write("imgs/t.png", "hello"), call=_read_folder_first,
         expect=("{tmp}/imgs/t.png",)),
    Case("img-truncated-png", "dataset",
         setup=lambda tmp: (_png("imgs/full.png", IMG64)(tmp),
                            (tmp / "imgs" / "cut.png").write_bytes((tmp / "imgs" / "full.png").read_bytes()[:300]),
                            (tmp / "imgs" / "full.png").unlink()),
         call=_read_folder_first, expect=("{tmp}/imgs/cut.png",)),
    Case("img-png-header-only-jpg", "dataset", setup=_write("imgs/j.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 20),
         call=_read_folder_first, expect=("{tmp}/imgs/j.jpg",)),
    Case("eval-1x1-image", "dataset", argv=_eval_folder(size=1)[0], setup=_eval_folder(size=1)[1],
         expect=("{tmp}/imgs/a.png", "1x1")),
    Case("eval-3x3-image", "dataset", argv=_eval_folder(size=3)[0], setup=_eval_folder(size=3)[1],
         expect=("{tmp}/imgs/a.png", "3x3")),
    Case("eval-8x8-image", "dataset", argv=_eval_folder(size=8)[0], setup=_eval_folder(size=8)[1],
         expect=("{tmp}/imgs/a.png", "8x8")),
    Case("eval-12x12-image", "dataset", argv=_eval_folder(size=12)[0], setup=_eval_folder(size=12)[1],
         expect=("{tmp}/imgs/a.png", "12x12")),
    Case("mat-im-gt-string", "dataset", setup=_mat("not an image"), call=_dataset("vdsr-mat", 2),
         expect=("bird_GT_x2.mat", "im_gt")),
    Case("mat-im-gt-2d", "dataset", setup=_mat(np.zeros((16, 16), np.uint8)), call=_dataset("vdsr-mat", 2),
         expect=("bird_GT_x2.mat", "im_gt")),
    Case("mat-im-gt-float", "dataset", setup=_mat(RNG.random((16, 16, 3))), call=_dataset("vdsr-mat", 2),
         expect=("bird_GT_x2.mat", "float64")),
    Case("mat-im-gt-y-wrong-shape", "dataset", setup=_mat(IMG64[:16, :16], im_gt_y=np.zeros((8, 8))),
         call=_dataset("vdsr-mat", 2), expect=("bird_GT_x2.mat", "im_gt_y")),
    Case("mat-im-b-y-nan", "dataset", setup=_mat(IMG64[:16, :16], im_b_y=np.full((16, 16), np.nan)),
         call=_dataset("vdsr-mat", 2), expect=("bird_GT_x2.mat", "im_b_y")),
    Case("mat-garbage", "dataset", setup=_write("data/set5/vdsr_mat/bird_GT_x2.mat", b"MATLAB 5.0 garbage" * 5),
         call=_dataset("vdsr-mat", 2), expect=("bird_GT_x2.mat",)),
    Case("selfexsr-pair-mismatch", "dataset", setup=_selfexsr(4, 20), call=_dataset("selfexsr", 4, "lr"),
         expect=("img_001_SRF_4_LR.png", "20x20")),
    Case("selfexsr-lr-same-as-hr", "dataset", setup=_selfexsr(2, 64), call=_dataset("selfexsr", 2, "lr"),
         expect=("img_001_SRF_2_LR.png", "64x64")),
    Case("set5-bicubic-of-another-image", "dataset", setup=_set5(40), call=_dataset("set5", 2, "bicubic"),
         expect=("bird_GT_scale_2.bmp", "40x40")),
    Case("div2k-lr-size-mismatch", "dataset",
         setup=lambda tmp: (_png("data/DIV2K_valid_HR/0801.png", IMG64)(tmp),
                            _png("data/DIV2K_valid_LR_bicubic/X2/0801x2.png", IMG64[:30, :30])(tmp)),
         call=_dataset("div2k", 2, "lr"), expect=("0801x2.png", "30x30")),
    Case("folder-lr-files-not-hr", "dataset",
         setup=lambda tmp: (_png("imgs/img_001_SRF_2_HR.png", IMG64)(tmp),
                            _png("imgs/img_001_SRF_2_LR.png", IMG64[:32, :32])(tmp)),
         call=lambda tmp: __import__("srharness.data.datasets", fromlist=["x"]).load_dataset("folder", tmp / "imgs",
                                                                                             2).names(),
         ok=lambda r, tmp: r == ["img_001_SRF_2"]),
    Case("folder-only-lr-files", "dataset", setup=_png("imgs/x_LR.png", IMG64),
         call=lambda tmp: __import__("srharness.data.datasets", fromlist=["x"]).load_dataset("folder", tmp / "imgs"),
         expect=("{tmp}/imgs",)),
    Case("dataset-folder-missing", "dataset", argv=["eval", "srcnn", "--dataset", "folder", "--data-dir",
                                                    "{tmp}/nope"], expect=("{tmp}/nope",)),
    Case("eval-images-empty", "dataset", argv=_eval_folder("--images", "")[0], setup=_eval_folder()[1],
         expect=("--images",)),
    Case("eval-images-empty-entry", "dataset", argv=_eval_folder("--images", "a,,b")[0], setup=_eval_folder()[1],
         expect=("--images", "a,,b")),
    Case("eval-images-unknown", "dataset", argv=_eval_folder("--images", "zebra")[0], setup=_eval_folder()[1],
         expect=("zebra",)),
    Case("eval-weights-auto-empty-weights-dir", "dataset",
         argv=_eval_folder("--weights", "auto", "--weights-dir", "{tmp}/w")[0],
         setup=_both(_eval_folder()[1], lambda tmp: (tmp / "w").mkdir()), expect=("{tmp}/w",)),
    Case("eval-weights-auto-folder-dataset", "dataset", needs_data=True,
         argv=["eval", "vdsr", "--scale", "2", "--dataset", "folder", "--data-dir", "{tmp}/imgs", "--protocol",
               "benchmark", "--weights", "auto", "--weights-dir", str(DATA_DIR / "weights"), "--json"],
         setup=_png("imgs/a.png", IMG64[:24, :24]),
         ok=lambda out, tmp: Path(json.loads(out)["weights"]).parent == DATA_DIR / "weights" / "vdsr"),
)

# ---------------------------------------------------------------- goldens
add(
    _golden_case("golden-duplicate-id", GOOD_GOLDEN + GOOD_GOLDEN.split("figures:\n")[1], ("duplicate",)),
    _golden_case("golden-duplicate-key", _g("    unit: dB\n", "    unit: dB\n    unit: K\n"), ("duplicate key 'unit'",)),
    _golden_case("golden-tolerance-nan", _g("tolerance: 0.01", "tolerance: .nan"), ("tolerance",)),
    _golden_case("golden-tolerance-inf", _g("tolerance: 0.01", "tolerance: .inf"), ("tolerance",)),
    _golden_case("golden-tolerance-negative", _g("tolerance: 0.01", "tolerance: -0.1"), ("tolerance",)),
    _golden_case("golden-exceeds-with-tolerance", _g("    source:", "    rule: {type: exceeds, tolerance: 0.5}\n    source:"),
                 ("exceeds", "tolerance")),
    _golden_case("golden-unknown-model", _g("model: rdn", "model: rnd"), ("'rnd'",)),
    _golden_case("golden-unknown-figure-model", _g("    unit: dB\n", "    unit: dB\n    model: vsdr\n"), ("'vsdr'",)),
    _golden_case("golden-unknown-protocol", _g("protocol: rdn-yjn870", "protocol: rdn-yjn87"), ("'rdn-yjn87'",)),
    _golden_case("golden-unknown-hardware", _g("hardware: cpu", "hardware: acsend"), ("'acsend'",)),
    _golden_case("golden-unknown-backend", _g("backend: torch", "backend: tourch"), ("'tourch'",)),
    _golden_case("golden-empty-id", _g("id: rdn/x2/set5/psnr/repo", "id: ''"), ("id",)),
    _golden_case("golden-id-with-space", _g("id: rdn/x2/set5/psnr/repo", "id: 'rdn x2'"), ("'rdn x2'",)),
    _golden_case("golden-null-id", _g("id: rdn/x2/set5/psnr/repo", "id: null"), ("'id'",)),
    _golden_case("golden-dangling-compared-with",
                 _g("    source:", "    compared_with: rdn/x2/set5/psnr/nope\n    expected_verdict: pass\n    source:"),
                 ("rdn/x2/set5/psnr/nope",)),
    _golden_case("golden-alias-bomb-check", _alias_bomb(), ("alias",)),
    _golden_case("golden-alias-bomb-list", _alias_bomb(), ("alias",), cmd="list"),
    _golden_case("golden-non-utf8", GOOD_GOLDEN.encode() + b"# \xff\xfe latin-1 comment\n", ("UTF-8",)),
    _golden_case("golden-deep-nesting", GOOD_GOLDEN + "x: " + "[" * 100000 + "]" * 100000 + "\n", ("nested",)),
    _golden_case("golden-5000-digit-value", _g("value: 38.18", "value: " + "9" * 5000), ("5000",)),
    _golden_case("golden-huge-value", _g("value: 38.18", "value: 1.0e+300"), ("1e+300",)),
    _golden_case("golden-value-inf", _g("value: 38.18", "value: .inf"), ("value",)),
    _golden_case("golden-value-nan", _g("value: 38.18", "value: .nan"), ("value",)),
    _golden_case("golden-defaults-rule-string", _g("rule: {type: relative, tolerance: 0.01, sides: one-sided}",
                                                   "rule: relative"), ("rule",)),
    _golden_case("golden-defaults-scale-string", _g("defaults:\n", "defaults:\n  scale: two\n"), ("'two'",)),
    _golden_case("golden-relative-on-zero", _g("value: 38.18", "value: 0"), ("golden of 0",)),
    _golden_case("golden-scale-zero", _g("    unit: dB\n", "    unit: dB\n    scale: 0\n"), ("scale",)),
    _golden_case("golden-empty-document", _g("{document: seeds/002.txt}", "{document: ''}"), ("document",)),
    _golden_case("golden-tolerance-string", _g("tolerance: 0.01", "tolerance: 1%"), ("tolerance",)),
    _golden_case("golden-python-tag", GOOD_GOLDEN + "x: !!python/object/apply:os.system ['touch {tmp}/pwned']\n",
                 ("python/object",), marker="pwned"),
    _golden_case("golden-not-a-mapping", "- 1\n- 2\n", ("mapping",)),
    _golden_case("golden-invalid-yaml", "model: rdn\nfigures: [\n", ("not valid YAML",)),
    Case("golden-file-over-1mb", "golden", argv=["golden", "check", "{tmp}/g/rdn.yaml"],
         setup=_write("g/rdn.yaml", GOOD_GOLDEN + "# " + "x" * (1 << 21) + "\n"), expect=("{tmp}/g/rdn.yaml", "bytes")),
    Case("golden-check-dev-zero", "golden", argv=["golden", "check", "/dev/zero"], expect=("/dev/zero",),
         unsafe_before="hang"),
    Case("golden-check-missing-file", "golden", argv=["golden", "check", "{tmp}/absent.yaml"],
         expect=("{tmp}/absent.yaml",)),
    Case("golden-judge-nan", "golden", argv=["golden", "judge", "--golden-dir", str(GOLDEN_DIR),
                                             "vdsr/x4/set5/psnr/vacc-guide-torch", "nan"], expect=("nan",)),
    Case("golden-judge-inf", "golden", argv=["golden", "judge", "--golden-dir", str(GOLDEN_DIR),
                                             "vdsr/x4/set5/psnr/vacc-guide-torch", "inf"], expect=("inf",)),
    Case("golden-judge-minus-inf", "golden", argv=["golden", "judge", "--golden-dir", str(GOLDEN_DIR), "--",
                                                   "vdsr/x4/set5/psnr/vacc-guide-torch", "-inf"], expect=("-inf",)),
    Case("golden-judge-text", "golden", argv=["golden", "judge", "--golden-dir", str(GOLDEN_DIR),
                                              "vdsr/x4/set5/psnr/vacc-guide-torch", "good"], expect=("good",)),
    Case("golden-judge-unknown-id", "golden", argv=["golden", "judge", "--golden-dir", str(GOLDEN_DIR),
                                                    "vdsr/x4/nope", "30"], expect=("vdsr/x4/nope",)),
    _golden_case("golden-judge-in-bad-dir", _g("tolerance: 0.01", "tolerance: .nan"), ("tolerance",), cmd="judge"),
)

# ---------------------------------------------------------------- arguments
add(
    Case("bench-min-seconds-nan", "argument", argv=_bench("--min-seconds", "nan"), expect=("--min-seconds", "nan")),
    Case("bench-warmup-seconds-inf", "argument", argv=_bench("--warmup-seconds", "inf"),
         expect=("--warmup-seconds", "inf")),
    Case("bench-min-seconds-negative", "argument", argv=_bench("--min-seconds", "-1"), expect=("--min-seconds", "-1")),
    Case("bench-threads-negative", "argument", argv=_bench("--threads", "-3"), expect=("--threads", "-3")),
    Case("bench-unstable-cv-negative", "argument", argv=_bench("--unstable-cv", "-1"),
         expect=("--unstable-cv", "-1")),
    Case("bench-unstable-cv-nan", "argument", argv=_bench("--unstable-cv", "nan"), expect=("--unstable-cv", "nan")),
    Case("bench-shape-zero", "argument", argv=_bench("--shape", "0x0"), expect=("--shape", "0x0")),
    Case("bench-shape-huge", "argument", argv=_bench("--shape", "100000x100000"),
         expect=("--shape", "100000x100000"), unsafe_before="traceback"),
    Case("bench-shape-text", "argument", argv=_bench("--shape", "big"), expect=("--shape", "big")),
    Case("bench-batch-zero", "argument", argv=_bench("--batch", "0"), expect=("--batch", "0")),
    Case("bench-iterations-text", "argument", argv=_bench("--iterations", "many"), expect=("--iterations", "many")),
    Case("bench-iterations-zero", "argument", argv=_bench("--iterations", "0"), expect=("--iterations",)),
    Case("bench-scale-5", "argument", argv=["bench", "srcnn", "--scale", "5", "--shape", "16x16", "--iterations", "1",
                                            "--min-seconds", "0"], expect=("5",)),
    Case("bench-workdir-is-file", "argument", setup=_write("f", "x"), argv=_bench("--workdir", "{tmp}/f"),
         expect=("{tmp}/f",)),
    Case("export-opset-1", "argument", argv=["export", "srcnn", "--opset", "1", "-o", "{tmp}/m.onnx"],
         expect=("--opset", "1")),
    Case("export-opset-99", "argument", argv=["export", "srcnn", "--opset", "99", "-o", "{tmp}/m.onnx"],
         expect=("--opset", "99")),
    Case("export-opset-21-legacy", "argument", argv=["export", "srcnn", "--opset", "21", "-o", "{tmp}/m.onnx"],
         expect=("--opset 21",)),
    Case("export-opset-text", "argument", argv=["export", "srcnn", "--opset", "nine", "-o", "{tmp}/m.onnx"],
         expect=("--opset", "nine")),
    Case("export-shape-huge", "argument", argv=["export", "srcnn", "--shape", "100000x100000", "-o", "{tmp}/m.onnx"],
         expect=("--shape", "100000x100000"), unsafe_before="traceback"),
    Case("export-shape-zero", "argument", argv=["export", "srcnn", "--shape", "0x16", "-o", "{tmp}/m.onnx"],
         expect=("--shape", "0x16")),
    Case("export-scale-5", "argument", argv=["export", "srcnn", "--scale", "5", "-o", "{tmp}/m.onnx"],
         expect=("x5",)),
    Case("export-scale-negative", "argument", argv=["export", "srcnn", "--scale", "-2", "-o", "{tmp}/m.onnx"],
         expect=("-2",)),
    Case("export-unknown-model", "argument", argv=["export", "srcnnn", "-o", "{tmp}/m.onnx"], expect=("srcnnn",)),
    Case("eval-tile-1", "argument", argv=_eval_folder("--tile", "1")[0], setup=_eval_folder()[1], expect=("--tile 1",)),
    Case("eval-tile-20", "argument", argv=_eval_folder("--tile", "20")[0], setup=_eval_folder()[1],
         expect=("--tile 20",)),
    Case("eval-tile-negative", "argument", argv=_eval_folder("--tile", "-5")[0], setup=_eval_folder()[1],
         expect=("--tile", "-5")),
    Case("eval-scale-5", "argument", argv=_eval_folder("--scale", "5")[0], setup=_eval_folder()[1], expect=("x5",)),
    Case("eval-scale-text", "argument", argv=_eval_folder("--scale", "two")[0], setup=_eval_folder()[1],
         expect=("--scale", "two")),
    Case("eval-unknown-protocol", "argument", argv=_eval_folder("--protocol", "benchmrk")[0], setup=_eval_folder()[1],
         expect=("benchmrk",)),
    Case("eval-unknown-dataset", "argument", argv=["eval", "srcnn", "--dataset", "set14", "--data-dir", "{tmp}"],
         expect=("set14",)),
    Case("eval-work-dir-is-file", "argument", argv=_eval_folder("--backend", "ort", "--work-dir", "{tmp}/f")[0],
         setup=_both(_eval_folder()[1], _write("f", "x")), expect=("{tmp}/f",)),
    Case("train-scale-5", "argument", argv=_train("--scale", "5"), expect=("x5",)),
    Case("train-lr-nan", "argument", argv=_train("--lr", "nan"), expect=("--lr", "nan")),
    Case("train-lr-negative", "argument", argv=_train("--lr", "-0.1"), expect=("--lr", "-0.1")),
    Case("train-steps-zero", "argument", argv=_train("--steps", "0"), expect=("--steps", "0")),
    Case("train-batch-zero", "argument", argv=_train("--batch", "0"), expect=("--batch", "0")),
    Case("train-patch-zero", "argument", argv=_train("--patch", "0"), expect=("--patch", "0")),
    Case("train-workers-negative", "argument", argv=_train("--workers", "-1"), expect=("--workers", "-1")),
    Case("train-nproc-zero", "argument", argv=_train("--nproc", "0"), expect=("--nproc", "0")),
    Case("train-features-zero", "argument", argv=_train("--features", "0"), expect=("--features", "0")),
    Case("train-threads-zero", "argument", argv=_train("--threads", "0"), expect=("--threads", "0")),
    Case("train-checkpoint-every-negative", "argument", argv=_train("--checkpoint-every", "-5"),
         expect=("--checkpoint-every", "-5")),
    Case("train-data-dir-missing", "argument", argv=_train("--data-dir", "{tmp}/nope"), expect=("{tmp}/nope",)),
    Case("hw-shape-env-bad", "argument", call=_shape_env("bad"), expect=("SRHARNESS_HW_SHAPE", "bad")),
    Case("hw-shape-env-0x0", "argument", call=_shape_env("0x0"), expect=("SRHARNESS_HW_SHAPE", "0x0")),
    Case("hw-shape-env-huge", "argument", call=_shape_env("100000x100000"), expect=("SRHARNESS_HW_SHAPE",)),
    Case("hw-shape-env-negative", "argument", call=_shape_env("-4x16"), expect=("SRHARNESS_HW_SHAPE", "-4x16")),
    Case("nightly-workers-true", "argument", call=_nightly("suites: [suites/srcnn]\nworkers: true\n"), expect=("workers", "True")),
    Case("nightly-workers-negative", "argument", call=_nightly("suites: [suites/srcnn]\nworkers: -2\n"), expect=("workers", "-2")),
    Case("nightly-workers-text", "argument", call=_nightly("suites: [suites/srcnn]\nworkers: many\n"), expect=("workers", "many")),
    Case("perf-config-min-seconds-nan", "argument", call=_perf_config(min_seconds=float("nan")),
         expect=("min_seconds", "nan"), errors=("ValueError",)),
    Case("perf-config-warmup-inf", "argument", call=_perf_config(warmup_seconds=float("inf")),
         expect=("warmup_seconds", "inf"), errors=("ValueError",)),
    Case("perf-config-cv-negative", "argument", call=_perf_config(unstable_cv=-1.0),
         expect=("unstable_cv", "-1"), errors=("ValueError",)),
    Case("perf-zero-latency-throughput", "argument",
         call=lambda tmp: __import__("srharness.perf", fromlist=["x"]).PerfResult([0.0, 0.0], 1, 0, 0.0, 0.0, 0.1)
         .throughput, expect=("mean latency",)),
    Case("perf-hotspot-share-nan", "argument",
         call=lambda tmp: __import__("srharness.perf", fromlist=["x"]).find_hotspots(
             __import__("srharness.tools.logs", fromlist=["x"]).parse_op_statistic(OPSTAT), float("nan")),
         expect=("nan",), errors=("ValueError",)),
)

# ---------------------------------------------------------------- file system and vendor output
add(
    Case("export-output-is-folder", "filesystem", argv=["export", "srcnn", "-o", "{tmp}"], expect=("{tmp}",)),
    Case("export-output-under-file", "filesystem", setup=_write("f", "x"),
         argv=["export", "srcnn", "-o", "{tmp}/f/m.onnx"], expect=("{tmp}/f/m.onnx",)),
    Case("export-output-unwritable", "filesystem", argv=["export", "srcnn", "-o", "/sys/srharness-test.onnx"],
         expect=("/sys/srharness-test.onnx",)),
    Case("export-output-missing-parent-ok", "filesystem", argv=["export", "srcnn", "-o", "{tmp}/new/dir/m.onnx"],
         ok=lambda out, tmp: (tmp / "new" / "dir" / "m.onnx").is_file()),
    Case("atomic-write-to-folder", "filesystem", call=_atomic_write("."), expect=("{tmp}",), errors=("OSError",)),
    Case("atomic-write-under-file", "filesystem", setup=_write("f", "x"), call=_atomic_write("f/out.json"),
         expect=("{tmp}/f/out.json",), errors=("OSError",)),
    Case("atomic-write-full-disk", "filesystem", call=_full_disk, expect=("{tmp}/model.onnx", "No space"),
         errors=("OSError",)),
    Case("atomic-write-unwritable", "filesystem", call=_atomic_write("/sys/srharness-test.json"),
         expect=("/sys/srharness-test.json",), errors=("OSError",)),
    Case("summary-json-is-folder", "filesystem", call=_output_path("{tmp}", directory=False),
         expect=("--sr-summary-json", "{tmp}", "folder"), errors=("OutputPathError",)),
    Case("summary-json-under-file", "filesystem", setup=_write("f", "x"), call=_output_path("{tmp}/f/s.json", directory=False),
         expect=("--sr-summary-json", "{tmp}/f", "is a file"), errors=("OutputPathError",)),
    Case("history-dir-is-file", "filesystem", setup=_write("f", "x"), call=_output_path("{tmp}/f", directory=True),
         expect=("--sr-history-dir", "{tmp}/f", "not a folder"), errors=("OutputPathError",)),
    Case("stale-temporary-swept", "filesystem", setup=_stale_temp, call=_atomic_write("out/result.json"), ok=_swept),
    Case("detect-non-utf8-tool-output", "filesystem", setup=_fake_tool("npu-smi", "| 0 310P3 | OK |\n\xff\xfe"
                                                                         .encode("latin-1")),
         call=lambda tmp: _detect_uncached("ascend"),
         env={"PATH": "{tmp}/bin:" + os.environ.get("PATH", "")}, ok=lambda r, tmp: r.present),
    Case("tool-not-executable", "filesystem", setup=_write("bin/atc", "not a program"),
         call=lambda tmp: __import__("srharness.tools.process", fromlist=["x"]).run_tool(
             [str(tmp / "bin" / "atc")], log_dir=tmp / "logs", timeout=5), expect=("atc",)),
)


# ============================================================================ round 2 (issue 20)
# The surfaces added since round 1. Each case's `post` (when given) is checked whatever the outcome:
# nothing written outside the destination, nothing replaced that was not a regular file.
# `python tests/test_bad_input.py --round2` classifies these cases only (issue 20's table).
ROUND2_START = len(CASES)

def _fifo(rel: str):
    def setup(tmp: Path):
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(tmp / rel)
    return setup


def _unix_socket(rel: str):
    def setup(tmp: Path):
        import socket
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(tmp / rel))
        s.close()
    return setup


def _symlink(rel: str, target: str):
    def setup(tmp: Path):
        os.symlink(target.format(tmp=tmp), tmp / rel)
    return setup


def _still(rel: str, kind: str):
    """post-check: tmp/rel is still a `kind` (fifo, socket, dir, link), never replaced by a regular file."""
    import stat as st

    def post(tmp: Path) -> str | None:
        p = tmp / rel
        mode = p.lstat().st_mode if os.path.lexists(p) else 0
        ok = {"fifo": st.S_ISFIFO, "socket": st.S_ISSOCK, "dir": st.S_ISDIR, "link": st.S_ISLNK,
              "chr": st.S_ISCHR}[kind](mode)
        return None if ok else f"{p} is no longer a {kind}: it was replaced"
    return post


def _nothing_outside(out_rel: str, *, but: tuple[str, ...] = ()):
    """post-check: every file the case made lies under tmp/out_rel (or was made by the setup: `but`)."""
    def post(tmp: Path) -> str | None:
        out = (tmp / out_rel).resolve()
        stray = [p for p in tmp.rglob("*") if p.is_file() and not p.resolve().is_relative_to(out)
                 and p.relative_to(tmp).parts[0] not in but]
        return f"written outside {out}: {stray[:3]}" if stray else None
    return post


def _write_api(rel: str):
    def call(tmp: Path):
        from srharness.fileio import atomic_write_text
        return atomic_write_text(tmp / rel, "{}")
    return call


SHARD_OK = {"schema": "srharness-shard/1", "name": "cpu@hostA", "hardware": "cpu", "host": "hostA",
            "identity": {"host": "hostA", "hardware": "cpu", "card": "cpu x1"}, "status": "finished", "exit_code": 0}


def _shard(**changes):
    """A finished shard folder tmp/in/s (its shard.json with `changes`), merged into tmp/deep/a/b/out."""
    def setup(tmp: Path):
        d = tmp / "in" / "s"
        (d / "allure-results").mkdir(parents=True)
        state = {**SHARD_OK, **changes}
        (d / "shard.json").write_text(json.dumps({k: v for k, v in state.items() if v is not None}))
        (d / "allure-results" / "pytest-output.txt").write_text("1 passed\n")
        (d / "nightly-output.txt").write_text("ok\n")
    return setup


def _merge_case(cid: str, expect: tuple[str, ...] = ("{tmp}/in/s/shard.json",), **changes) -> Case:
    return Case(cid, "writes", argv=["merge", "-o", "{tmp}/deep/a/b/out", "--no-report", "{tmp}/in/s"],
                setup=_shard(**changes), expect=expect, post=_nothing_outside("deep/a/b/out", but=("in",)))


def _shard_file_link(kind: str):
    """A shard whose result file is a symlink to a file outside it (or a FIFO): never copied (or read)."""
    def setup(tmp: Path):
        _shard()(tmp)
        (tmp / "secret.txt").write_text("secret")
        res = tmp / "in" / "s" / "allure-results"
        (res / "pytest-output.txt").unlink()
        if kind == "link":
            os.symlink(tmp / "secret.txt", res / "pytest-output.txt")
            os.symlink(tmp / "secret.txt", res / "00000000-0000-0000-0000-000000000000-result.json")
        else:
            os.mkfifo(res / "pytest-output.txt")
            os.mkfifo(tmp / "in" / "s" / "nightly-output.txt.fifo")
    return setup


def _merged_without_secret(out: str, tmp: Path) -> bool:
    merged = tmp / "deep" / "a" / "b" / "out"
    return merged.is_dir() and not any("secret" in p.read_text(errors="replace")
                                       for p in merged.rglob("*") if p.is_file() and not p.is_symlink())


@contextlib.contextmanager
def _registry_snapshot():
    """Plugins register into process-wide registries: every plugin case puts them back as they were."""
    from srharness import registry
    from srharness.backends import BACKENDS
    saved = [(r, dict(r._entries), dict(r._origins), dict(getattr(r, "replaced", {}))) for r in (registry.MODELS, BACKENDS)]
    loaded = list(registry._loaded)
    mods = set(sys.modules)
    try:
        yield registry
    finally:
        for r, entries, origins, replaced in saved:
            r._entries.clear(), r._entries.update(entries)
            r._origins.clear(), r._origins.update(origins)
            if hasattr(r, "replaced"):
                r.replaced.clear(), r.replaced.update(replaced)
        registry._loaded[:] = loaded
        for m in set(sys.modules) - mods:
            if "plugin" in m:
                sys.modules.pop(m, None)


def _plugin(source: str, target: str = "{tmp}/plug.py", *, then: Callable[[Any], Any] | None = None):
    """Load a plugin file (source formatted with tmp) through the registry, as --sr-plugin does."""
    def call(tmp: Path):
        (tmp / "plug.py").write_text(source.replace("{tmp}", str(tmp)))
        with _registry_snapshot() as registry:
            registry.load_plugin(target.format(tmp=tmp))
            return then(registry) if then else registry.loaded_plugins()
    return call


def _onnx_tiny(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("Identity", ["input"], ["output"])], "g",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, 8, 8])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))


def _model_plugin(name: str, extra: str = "") -> str:
    return f'''
from srharness.registry import ModelSpec
def srharness_register(api):
    import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})
    from test_bad_input import _onnx_tiny
    from pathlib import Path
    _onnx_tiny(Path("{{tmp}}") / "m.onnx")
    api.register_model(ModelSpec(name={name!r}, builder=None, onnx="{{tmp}}/m.onnx", scales=(2,), reference="user",
                                 in_channels=1, input_range=1.0, upsamples=False, guide_input_shape=(1, 1, 8, 8),
                                 guide_opset=13){extra})
'''


def _farm(text: str):
    def call(tmp: Path):
        from srharness.farm.launcher import load_farm_config
        (tmp / "suites" / "srcnn").mkdir(parents=True, exist_ok=True)
        (tmp / "nightly.yaml").write_text("suites: [suites/srcnn]\n")
        (tmp / "farm.yaml").write_text("nightly: nightly.yaml\nrequire: [cpu]\n" + text)
        return load_farm_config(tmp / "farm.yaml")
    return call


# ---------------------------------------------------------------- writes that destroy, names from outside
add(
    Case("atomic-write-over-fifo", "writes", setup=_fifo("out.json"), call=_write_api("out.json"),
         expect=("{tmp}/out.json", "FIFO", "regular file"), post=_still("out.json", "fifo")),
    Case("atomic-write-over-socket", "writes", setup=_unix_socket("out.json"), call=_write_api("out.json"),
         expect=("{tmp}/out.json", "socket", "regular file"), post=_still("out.json", "socket")),
    Case("atomic-write-over-link-to-fifo", "writes", setup=_both(_fifo("f"), _symlink("out.json", "{tmp}/f")),
         call=_write_api("out.json"), expect=("{tmp}/out.json", "FIFO"), post=_still("f", "fifo")),
    Case("atomic-write-over-link-to-folder", "writes", setup=_both(lambda t: (t / "d").mkdir(),
                                                                   _symlink("out.json", "{tmp}/d")),
         call=_write_api("out.json"), expect=("{tmp}/out.json", "folder"), errors=("OSError",), post=_still("d", "dir")),
    Case("atomic-write-over-dangling-link", "writes", setup=_symlink("out.json", "{tmp}/nowhere/x"),
         call=_write_api("out.json"), expect=("{tmp}/out.json", "symlink"), post=_still("out.json", "link")),
    Case("atomic-write-through-link-to-file", "writes", setup=_both(_write("real.json", "old"),
                                                                    _symlink("out.json", "{tmp}/real.json")),
         call=_write_api("out.json"),
         ok=lambda r, tmp: (tmp / "out.json").is_symlink() and (tmp / "real.json").read_text() == "{}"),
    Case("summary-json-is-fifo", "writes", setup=_fifo("s.json"), call=_output_path("{tmp}/s.json", directory=False),
         expect=("--sr-summary-json", "{tmp}/s.json", "FIFO"), errors=("OutputPathError",), post=_still("s.json", "fifo")),
    Case("summary-json-is-socket", "writes", setup=_unix_socket("s.json"),
         call=_output_path("{tmp}/s.json", directory=False), expect=("--sr-summary-json", "{tmp}/s.json", "socket"),
         errors=("OutputPathError",), post=_still("s.json", "socket")),
    Case("summary-json-link-to-fifo", "writes", setup=_both(_fifo("f"), _symlink("s.json", "{tmp}/f")),
         call=_output_path("{tmp}/s.json", directory=False), expect=("--sr-summary-json", "{tmp}/s.json", "FIFO"),
         errors=("OutputPathError",), post=_still("f", "fifo")),
    Case("history-dir-is-fifo", "writes", setup=_fifo("h"), call=_output_path("{tmp}/h", directory=True),
         expect=("--sr-history-dir", "{tmp}/h"), errors=("OutputPathError",), post=_still("h", "fifo")),
    Case("export-output-is-fifo", "writes", setup=_fifo("m.onnx"), argv=["export", "srcnn", "-o", "{tmp}/m.onnx"],
         expect=("{tmp}/m.onnx", "FIFO"), post=_still("m.onnx", "fifo")),
    _merge_case("merge-shard-name-escapes", name="../../../../x"),
    _merge_case("merge-shard-name-absolute", name="/tmp/srharness-escape"),
    _merge_case("merge-shard-name-slash", name="cpu/x"),
    _merge_case("merge-shard-name-dotdot", name=".."),
    _merge_case("merge-shard-name-hidden", name=".cpu@h"),
    _merge_case("merge-shard-name-nul", name="cpu\x00@h"),
    _merge_case("merge-shard-name-newline", name="cpu@h\nFAKE: all passed"),
    _merge_case("merge-shard-name-huge", name="c" * 5000),
    _merge_case("merge-shard-name-number", name=12345),
    _merge_case("merge-shard-name-list", name=["cpu@h"]),
    _merge_case("merge-shard-hardware-escapes", hardware="../../hw"),
    _merge_case("merge-shard-host-escapes", host="../../../host"),
    _merge_case("merge-shard-host-backslash", host="..\\..\\host"),
    _merge_case("merge-shard-identity-string", identity="root"),
    Case("merge-shard-result-symlink-out", "writes", argv=["merge", "-o", "{tmp}/deep/a/b/out", "--no-report", "{tmp}/in/s"],
         setup=_shard_file_link("link"), ok=lambda out, tmp: True, expect=("{tmp}/in/s",),
         post=lambda tmp: None if _merged_without_secret("", tmp) else "a symlink's target was copied into the merge"),
    Case("merge-shard-output-is-fifo", "writes", argv=["merge", "-o", "{tmp}/deep/a/b/out", "--no-report", "{tmp}/in/s"],
         setup=_shard_file_link("fifo"), expect=("{tmp}/in/s",), ok=lambda out, tmp: True,
         post=_still("in/s/allure-results/pytest-output.txt", "fifo")),
    Case("plugin-model-name-escapes", "writes", call=_plugin(_model_plugin("../../../escape")),
         expect=("../../../escape", "one path component"), post=_nothing_outside(".")),
    Case("plugin-model-name-absolute", "writes", call=_plugin(_model_plugin("/tmp/escape")),
         expect=("/tmp/escape", "path component")),
    Case("plugin-model-name-dotdot", "writes", call=_plugin(_model_plugin("..")), expect=("'..'", "path component")),
    Case("plugin-model-name-nul", "writes", call=_plugin(_model_plugin("m\x00x")), expect=("control character",)),
    Case("plugin-model-name-hidden", "writes", call=_plugin(_model_plugin(".m")), expect=("'.m'", "path component")),
    Case("plugin-model-name-backslash", "writes", call=_plugin(_model_plugin("..\\\\m")), expect=("separator",)),
    Case("farm-shard-timeout-nan", "config", call=_farm("shard_timeout: .nan\n"),
         expect=("{tmp}/farm.yaml", "shard_timeout", "nan")),
    Case("farm-shard-timeout-inf", "config", call=_farm("shard_timeout: .inf\n"),
         expect=("{tmp}/farm.yaml", "shard_timeout", "inf")),
    Case("farm-shard-timeout-huge", "config", call=_farm("shard_timeout: 1e300\n"),
         expect=("{tmp}/farm.yaml", "shard_timeout", "1e300")),
    Case("farm-shard-env-key-equals", "config", call=_farm("shard_env: {'A=B': 1}\n"),
         expect=("{tmp}/farm.yaml", "shard_env", "'A=B'")),
    Case("farm-shard-env-key-digit", "config", call=_farm("shard_env: {'1A': x}\n"),
         expect=("{tmp}/farm.yaml", "shard_env", "'1A'")),
    Case("farm-shard-env-key-empty", "config", call=_farm("shard_env: {'': x}\n"),
         expect=("{tmp}/farm.yaml", "shard_env", "''")),
    Case("farm-shard-env-value-nan", "config", call=_farm("shard_env: {A: .nan}\n"),
         expect=("{tmp}/farm.yaml", "shard_env", "nan")),
    Case("farm-shard-env-value-bool", "config", call=_farm("shard_env: {A: true}\n"),
         expect=("{tmp}/farm.yaml", "shard_env", "True")),
    Case("farm-shard-env-value-nul", "config", call=_farm("shard_env: {A: \"x\\0y\"}\n"),
         expect=("{tmp}/farm.yaml", "shard_env")),
    Case("farm-node-host-escapes", "writes",
         call=lambda tmp: __import__("srharness.farm.shard", fromlist=["x"]).shard_name("cpu", "../../etc"),
         expect=("../../etc", "path component")),
)

# ---------------------------------------------------------------- plugins
PLUGIN_REPLACES_VDSR = '''
from srharness.registry import ModelSpec, get_model
from dataclasses import replace
def srharness_register(api):
    api.register_model(replace(get_model("vdsr"), registered_by=""), replace_existing=True)
'''
add(
    Case("plugin-raises-at-import", "plugins", call=_plugin("x = 1\nraise RuntimeError('no licence server')\n"),
         expect=("{tmp}/plug.py", "no licence server", "plug.py:2")),
    Case("plugin-raises-in-register", "plugins",
         call=_plugin("def srharness_register(api):\n    {}['missing']\n"),
         expect=("{tmp}/plug.py", "register", "KeyError", "plug.py:2")),
    Case("plugin-syntax-error", "plugins", call=_plugin("def srharness_register(api)\n    pass\n"),
         expect=("{tmp}/plug.py", "SyntaxError")),
    Case("plugin-imports-missing-module", "plugins", call=_plugin("import no_such_module_srh\n"),
         expect=("{tmp}/plug.py", "no_such_module_srh")),
    Case("plugin-os-getcwd", "plugins", call=_plugin("", target="os:getcwd"), expect=("os:getcwd",)),
    Case("plugin-builtins-print", "plugins", call=_plugin("", target="builtins:print"), expect=("builtins:print",)),
    Case("plugin-attr-missing", "plugins", call=_plugin("", target="json:no_such_function"),
         expect=("json:no_such_function",)),
    Case("plugin-register-not-callable-arg", "plugins",
         call=_plugin("def srharness_register():\n    pass\n"), expect=("{tmp}/plug.py", "TypeError")),
    Case("plugin-registers-garbage", "plugins",
         call=_plugin("def srharness_register(api):\n    api.register_model('vdsr')\n"),
         expect=("{tmp}/plug.py", "ModelSpec")),
    Case("plugin-duplicate-builtin-name", "plugins", call=_plugin(PLUGIN_REPLACES_VDSR.replace(", replace_existing=True", "")),
         expect=("'vdsr'", "already registered")),
    Case("plugin-replaces-builtin-announced", "plugins",
         call=_plugin(PLUGIN_REPLACES_VDSR, then=lambda r: r.replacements()),
         ok=lambda lines, tmp: any("vdsr" in line and "REPLACED" in line for line in lines)),
    Case("plugin-replaces-builtin-in-doctor-json", "plugins", setup=_write("plug.py", PLUGIN_REPLACES_VDSR),
         argv=["doctor", "--json", "--sr-plugin", "{tmp}/plug.py"], context=lambda tmp: _plugin_context(tmp),
         ok=lambda out, tmp: any("vdsr" in line and "REPLACED" in line
                                 for line in json.loads(out)["registered"]["replaced"])),
    Case("plugin-replaces-builtin-in-summary", "plugins",
         call=_plugin(PLUGIN_REPLACES_VDSR, then=lambda r: __import__("srharness.report.matrix", fromlist=["x"])
                      .summary_document([], {}, 0)),
         ok=lambda doc, tmp: any("vdsr" in line for line in doc.get("replaced_builtins", []))),
)

# ---------------------------------------------------------------- ONNX-only models (a plugin's file)
def _onnx_graph(nodes, inputs, outputs, inits=(), opset: int = 13, domains=()):
    from onnx import helper
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset),
                                               *(helper.make_opsetid(d, 1) for d in domains)])


def _vi(name: str, shape, elem: int = 1):
    from onnx import helper
    return helper.make_tensor_value_info(name, elem, shape)


def _identity_model(**kw):
    from onnx import helper
    return _onnx_graph([helper.make_node("Identity", ["input"], ["output"])],
                       [_vi("input", [1, 1, "h", "w"])], [_vi("output", [1, 1, "h", "w"])], **kw)


def _save_model(model, path: Path, *, check: bool = False) -> None:
    import onnx
    if check:
        onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def _with_external(location: str, make_target: Callable[[Path], None] | None = None):
    """input + W, W's data in `location` (relative to the model's folder, or absolute)."""
    def build(path: Path):
        import onnx
        from onnx import helper, numpy_helper
        w = numpy_helper.from_array(np.zeros((1, 1, 1, 1), np.float32), "w")
        w.ClearField("float_data"), w.ClearField("raw_data")
        w.data_location = onnx.TensorProto.EXTERNAL
        for k, v in (("location", location), ("offset", "0"), ("length", "4")):
            e = w.external_data.add()
            e.key, e.value = k, v
        m = _onnx_graph([helper.make_node("Add", ["input", "w"], ["output"])],
                        [_vi("input", [1, 1, "h", "w"])], [_vi("output", [1, 1, "h", "w"])], inits=[w])
        _save_model(m, path)
        if make_target:
            make_target(path.parent)
    return build


def _nested_if(depth: int):
    def build(path: Path):
        from onnx import helper
        inner_out = "output"

        def level(d):
            if d == 0:
                return helper.make_graph([helper.make_node("Identity", ["input"], [f"o{d}"])], f"b{d}", [],
                                         [_vi(f"o{d}", [1, 1, "h", "w"])])
            then = level(d - 1)
            return helper.make_graph([helper.make_node("If", ["cond"], [f"o{d}"], then_branch=then, else_branch=then)],
                                     f"b{d}", [], [_vi(f"o{d}", [1, 1, "h", "w"])])
        from onnx import TensorProto
        top = level(depth)
        m = _onnx_graph([helper.make_node("If", ["cond"], [inner_out], then_branch=top, else_branch=top)],
                        [_vi("input", [1, 1, "h", "w"])], [_vi(inner_out, [1, 1, "h", "w"])],
                        inits=[helper.make_tensor("cond", TensorProto.BOOL, [], [True])])
        _save_model(m, path)
    return build


def _expand_bomb(path: Path):
    from onnx import TensorProto, helper
    m = _onnx_graph([helper.make_node("Constant", [], ["shape"], value=helper.make_tensor(
        "s", TensorProto.INT64, [4], [1, 1, 60000, 60000])),
        helper.make_node("Expand", ["input", "shape"], ["big"]),
        helper.make_node("ReduceMean", ["big"], ["m"], keepdims=1),
        helper.make_node("Add", ["input", "m"], ["output"])],
        [_vi("input", [1, 1, "h", "w"])], [_vi("output", [1, 1, "h", "w"])])
    _save_model(m, path)


def _loop_forever(path: Path):
    from onnx import TensorProto, helper
    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"]), helper.make_node("Add", ["v_in", "zero"], ["v_out"])],
        "body", [_vi("i", [], TensorProto.INT64), _vi("c_in", [], TensorProto.BOOL), _vi("v_in", None)],
        [_vi("c_out", [], TensorProto.BOOL), _vi("v_out", None)], [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])])
    m = _onnx_graph([helper.make_node("Loop", ["M", "cond", "input"], ["output"], body=body)],
                    [_vi("input", [1, 1, "h", "w"])], [_vi("output", [1, 1, "h", "w"])],
                    inits=[helper.make_tensor("M", TensorProto.INT64, [], [2 ** 62]),
                           helper.make_tensor("cond", TensorProto.BOOL, [], [True])])
    _save_model(m, path)


def _two_outputs(first: str = "junk"):
    def build(path: Path):
        from onnx import helper
        m = _onnx_graph([helper.make_node("Sub", ["input", "input"], ["junk"]),
                         helper.make_node("Identity", ["input"], ["sr"])],
                        [_vi("input", [1, 1, "h", "w"])],
                        [_vi("junk", [1, 1, "h", "w"]), _vi("sr", [1, 1, "h", "w"])] if first == "junk"
                        else [_vi("sr", [1, 1, "h", "w"]), _vi("junk", [1, 1, "h", "w"])])
        _save_model(m, path)
    return build


def _simple(nodes, inputs, outputs, **kw):
    def build(path: Path):
        _save_model(_onnx_graph(nodes, inputs, outputs, **kw), path)
    return build


def _node(*a, **kw):
    from onnx import helper
    return helper.make_node(*a, **kw)


ONNX_PLUGIN = '''
from srharness.registry import ModelSpec
def srharness_register(api):
    api.register_model(ModelSpec(name="hostile-onnx", builder=None, onnx="{tmp}/model/m.onnx", scales=(2,),
                                 reference="user", in_channels=1, input_range=1.0, upsamples=False,
                                 guide_input_shape=(1, 1, 32, 32), guide_opset=13{extra}))
'''


@contextlib.contextmanager
def _plugin_context(_tmp: Path):
    with _registry_snapshot():
        yield


def _onnx_case(cid: str, build: Callable[[Path], None] | None, expect: tuple[str, ...] = ("{tmp}/model/m.onnx",),
               extra: str = "", raw: bytes | None = None, **kw) -> Case:
    def setup(tmp: Path):
        (tmp / "model").mkdir()
        if raw is not None:
            (tmp / "model" / "m.onnx").write_bytes(raw)
        else:
            build(tmp / "model" / "m.onnx")
        (tmp / "plug.py").write_text(ONNX_PLUGIN.replace("{tmp}", str(tmp)).replace("{extra}", extra))
    return Case(cid, "onnx", argv=["eval", "hostile-onnx", "--sr-plugin", "{tmp}/plug.py", "--backend", "ort",
                                   "--work-dir", "{tmp}/work", "--dataset", "embedded", "--images", "camera", "--json"],
                setup=setup, expect=expect, context=_plugin_context, **kw)


def _psnr_above(db: float):
    def ok(out: str, tmp: Path) -> bool:
        doc = json.loads(out[out.index("{"):])
        return doc["mean_psnr"] > db
    return ok


def _hard_link_data(folder: Path) -> None:
    (folder.parent / "elsewhere.bin").write_bytes(b"\0" * 4)
    os.link(folder.parent / "elsewhere.bin", folder / "w.bin")


add(
    _onnx_case("onnx-random-bytes", None, raw=bytes(RNG.integers(0, 256, 4096, dtype=np.uint8)),
               expect=("{tmp}/model/m.onnx", "not an ONNX model")),
    _onnx_case("onnx-empty-file", None, raw=b"", expect=("{tmp}/model/m.onnx",)),
    _onnx_case("onnx-truncated", None, raw=b"\x08\x07\x12\x04abc", expect=("{tmp}/model/m.onnx",)),
    _onnx_case("onnx-custom-domain", _simple([_node("Magic", ["input"], ["output"], domain="evil.ops")],
                                             [_vi("input", [1, 1, "h", "w"])], [_vi("output", [1, 1, "h", "w"])],
                                             domains=("evil.ops",)),
               expect=("{tmp}/model/m.onnx", "evil.ops", "standard ONNX ops")),
    _onnx_case("onnx-opset-99", lambda p: _save_model(_identity_model(opset=99), p),
               expect=("{tmp}/model/m.onnx", "opset 99")),
    _onnx_case("onnx-opset-0", lambda p: _save_model(_identity_model(opset=0), p), expect=("{tmp}/model/m.onnx", "opset")),
    _onnx_case("onnx-rank3-input", _simple([_node("Identity", ["input"], ["output"])], [_vi("input", [1, "h", "w"])],
                                           [_vi("output", [1, "h", "w"])]), expect=("{tmp}/model/m.onnx", "rank 3")),
    _onnx_case("onnx-rank5-input", _simple([_node("Identity", ["input"], ["output"])], [_vi("input", [1, 1, 1, "h", "w"])],
                                           [_vi("output", [1, 1, 1, "h", "w"])]), expect=("{tmp}/model/m.onnx", "rank 5")),
    _onnx_case("onnx-input-3-channels", _simple([_node("Identity", ["input"], ["output"])], [_vi("input", [1, 3, "h", "w"])],
                                                [_vi("output", [1, 3, "h", "w"])]),
               expect=("{tmp}/model/m.onnx", "3 channel", "in_channels")),
    _onnx_case("onnx-two-inputs", _simple([_node("Add", ["input", "b"], ["output"])],
                                          [_vi("input", [1, 1, "h", "w"]), _vi("b", [1, 1, "h", "w"])],
                                          [_vi("output", [1, 1, "h", "w"])]), expect=("{tmp}/model/m.onnx", "2 graph inputs")),
    _onnx_case("onnx-no-inputs", _simple([_node("Constant", [], ["output"], value_float=1.0)], [], [_vi("output", [])]),
               expect=("{tmp}/model/m.onnx", "0 graph inputs")),
    _onnx_case("onnx-int64-input", _simple([_node("Identity", ["input"], ["output"])],
                                           [_vi("input", [1, 1, "h", "w"], 7)], [_vi("output", [1, 1, "h", "w"], 7)]),
               expect=("{tmp}/model/m.onnx",)),
    _onnx_case("onnx-first-output-not-sr", _two_outputs("junk"), expect=("{tmp}/model/m.onnx", "sr_output")),
    _onnx_case("onnx-sr-output-named", _two_outputs("junk"), extra=", sr_output='sr'", ok=_psnr_above(20.0)),
    _onnx_case("onnx-sr-output-missing-name", _two_outputs("junk"), extra=", sr_output='nope'",
               expect=("'nope'",)),
    _onnx_case("onnx-sr-output-index-out-of-range", _two_outputs("junk"), extra=", sr_output=5", expect=("sr_output",)),
    _onnx_case("onnx-output-rank2", _simple([_node("Flatten", ["input"], ["output"])], [_vi("input", [1, 1, "h", "w"])],
                                            [_vi("output", [1, "hw"])]), expect=("{tmp}/model/m.onnx", "rank 2")),
    _onnx_case("onnx-output-3-channels", _simple([_node("Concat", ["input", "input", "input"], ["output"], axis=1)],
                                                 [_vi("input", [1, 1, "h", "w"])], [_vi("output", [1, 3, "h", "w"])]),
               expect=("{tmp}/model/m.onnx", "3 channel")),
    _onnx_case("onnx-empty-graph", _simple([], [_vi("input", [1, 1, "h", "w"])], [_vi("input", [1, 1, "h", "w"])]),
               expect=("{tmp}/model/m.onnx", "no graph")),
    _onnx_case("onnx-external-dotdot", _with_external("../x.bin", lambda d: (d.parent / "x.bin").write_bytes(b"\0" * 4)),
               expect=("{tmp}/model/m.onnx", "../x.bin", "inside the model's folder")),
    _onnx_case("onnx-external-absolute", _with_external("/etc/passwd"), expect=("{tmp}/model/m.onnx", "/etc/passwd")),
    _onnx_case("onnx-external-symlink-out", _with_external("w.bin", lambda d: (
        (d.parent / "elsewhere.bin").write_bytes(b"\0" * 4), os.symlink(d.parent / "elsewhere.bin", d / "w.bin"))),
        expect=("{tmp}/model/m.onnx", "w.bin", "symlink")),
    _onnx_case("onnx-external-hard-link", _with_external("w.bin", _hard_link_data),
               expect=("{tmp}/model/m.onnx", "w.bin", "hard link")),
    _onnx_case("onnx-external-missing", _with_external("w.bin"), expect=("{tmp}/model/m.onnx", "w.bin", "missing")),
    _onnx_case("onnx-external-folder", _with_external("sub", lambda d: (d / "sub").mkdir()),
               expect=("{tmp}/model/m.onnx", "sub")),
    _onnx_case("onnx-external-too-short", _with_external("w.bin", lambda d: (d / "w.bin").write_bytes(b"\0")),
               expect=("{tmp}/model/m.onnx",)),
    _onnx_case("onnx-nested-if-bomb", _nested_if(12), expect=("{tmp}/model/m.onnx", "nested")),
    _onnx_case("onnx-expand-14gb", _expand_bomb, expect=("{tmp}/model/m.onnx", "GiB"),
               unsafe_before="traceback"),   # the issue: onnxruntime's allocation failure as a traceback
    _onnx_case("onnx-loop-2e62", _loop_forever, expect=("{tmp}/model/m.onnx", "timed out after 2 s"),
               env={"SRHARNESS_ORT_TIMEOUT_S": "2"}, unsafe_before="hang"),   # onnxruntime never returns to Python
    _onnx_case("onnx-nan-output", _simple([_node("Div", ["z", "z"], ["n"]), _node("Add", ["input", "n"], ["output"])],
                                          [_vi("input", [1, 1, "h", "w"])], [_vi("output", [1, 1, "h", "w"])],
                                          inits=[__import__("onnx").helper.make_tensor("z", 1, [], [0.0])]),
               expect=("NaN",)),
    _onnx_case("onnx-output-half-size", _simple([_node("MaxPool", ["input"], ["output"], kernel_shape=[2, 2], strides=[2, 2])],
                                                [_vi("input", [1, 1, "h", "w"])], [_vi("output", [1, 1, "h2", "w2"])]),
               expect=("camera", "(256, 256)", "scale")),
    _onnx_case("onnx-timeout-env-bad", lambda p: _save_model(_identity_model(), p),
               expect=("SRHARNESS_ORT_TIMEOUT_S", "abc"), env={"SRHARNESS_ORT_TIMEOUT_S": "abc"}),
)

# ---------------------------------------------------------------- history and compare
def _verdict(metric: str = "psnr", measured: Any = 33.6, **kw) -> dict:
    return {"model": "vdsr", "check": "accuracy", "metric": metric, "measured": measured, "hardware": "cpu",
            "backend": "torch", "precision": "fp32", "scale": 2, "protocol": "benchmark", "dataset": "set5",
            "unit": "dB" if metric == "psnr" else "fps", "passed": True, **kw}


def _summary_doc(verdicts: Any, **top) -> dict:
    return {"schema": "srharness-summary/2", "identity": {"host": "h", "hardware_key": "cpu",
                                                          "timestamp": top.pop("timestamp", "2026-01-01T00:00:00Z")},
            "verdicts": verdicts, **top}


BASE_VERDICTS = [_verdict("psnr", 33.6), _verdict("fps", 100.0, check="perf")]


def _compare_case(cid: str, new: Any, expect: tuple[str, ...], *, raw: str | bytes | None = None,
                  fail: str = "psnr:0.05dB,fps:10%", area: str = "history", **kw) -> Case:
    def setup(tmp: Path):
        (tmp / "base.json").write_text(json.dumps(_summary_doc(BASE_VERDICTS)))
        if raw is not None:
            _write("new.json", raw)(tmp)
        else:
            (tmp / "new.json").write_text(json.dumps(new if isinstance(new, dict) and "schema" in new
                                                     else _summary_doc(new)))
    return Case(cid, area, argv=["compare", "{tmp}/base.json", "{tmp}/new.json", "--fail", fail], setup=setup,
                expect=expect, **kw)


def _history_runs(*foreign: tuple[str, Callable[[Path], None]]):
    """history/runs/ with two good runs of this host, and foreign entries beside them."""
    def setup(tmp: Path):
        runs = tmp / "h" / "runs"
        runs.mkdir(parents=True)
        (runs / "20260101T000000Z-h-aaaa.json").write_text(json.dumps(_summary_doc(BASE_VERDICTS)))
        (runs / "20260102T000000Z-h-bbbb.json").write_text(json.dumps(
            _summary_doc(BASE_VERDICTS, timestamp="2026-01-02T00:00:00Z")))
        for name, make in foreign:
            make(runs / name)
    return setup


def _history_case(cid: str, *foreign, skipped: str) -> Case:
    """A foreign file in history/runs/ is skipped, named; the comparison of the good runs goes on."""
    return Case(cid, "history", argv=["compare", "--history", "{tmp}/h"], setup=_history_runs(*foreign),
                ok=lambda out, tmp: "2 figures" in out)


def _deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


add(
    _compare_case("compare-new-nan", [_verdict("psnr", float("nan")), BASE_VERDICTS[1]], ("psnr", "finite")),
    _compare_case("compare-new-infinity", [BASE_VERDICTS[0], _verdict("fps", float("inf"), check="perf")],
                  ("fps", "finite")),
    _compare_case("compare-new-minus-infinity", [_verdict("psnr", float("-inf")), BASE_VERDICTS[1]], ("psnr", "finite")),
    _compare_case("compare-new-nan-no-rule-for-it", [_verdict("psnr", float("nan")), BASE_VERDICTS[1]],
                  ("psnr", "finite"), fail="fps:10%"),
    _compare_case("compare-figure-disappears", [BASE_VERDICTS[1]], ("psnr", "disappeared")),
    _compare_case("compare-all-figures-disappear", [], ("psnr", "fps", "disappeared")),
    _compare_case("compare-measured-text", [_verdict("psnr", "abc"), BASE_VERDICTS[1]],
                  ("{tmp}/new.json", "'abc'", "not a number")),
    _compare_case("compare-measured-bool", [_verdict("psnr", True), BASE_VERDICTS[1]], ("{tmp}/new.json", "not a number")),
    _compare_case("compare-measured-list", [_verdict("psnr", [1]), BASE_VERDICTS[1]], ("{tmp}/new.json", "not a number")),
    _compare_case("compare-verdicts-dict", {"a": _verdict()}, ("{tmp}/new.json", "'verdicts' must be a list")),
    _compare_case("compare-verdict-not-mapping", ["psnr"], ("{tmp}/new.json", "verdicts[0]")),
    _compare_case("compare-verdict-no-model", [{k: v for k, v in _verdict().items() if k != "model"}],
                  ("{tmp}/new.json", "'model'")),
    _compare_case("compare-verdict-model-number", [_verdict(model=5)], ("{tmp}/new.json", "'model'")),
    _compare_case("compare-verdict-scale-text", [_verdict(scale="x2")], ("{tmp}/new.json", "scale", "'x2'")),
    _compare_case("compare-verdict-passed-text", [_verdict(passed="yes")], ("{tmp}/new.json", "passed", "'yes'")),
    _compare_case("compare-verdict-conditions-list", [_verdict(conditions=[1])], ("{tmp}/new.json", "conditions")),
    _compare_case("compare-identity-list", None, ("{tmp}/new.json", "identity"),
                  raw=json.dumps({"schema": "srharness-summary/2", "identity": [1], "verdicts": []})),
    _compare_case("compare-deeply-nested", None, ("{tmp}/new.json", "RecursionError"),
                  raw='{"schema": "srharness-summary/2", "verdicts": ' + _deep_json(100_000) + "}"),
    _compare_case("compare-not-utf8", None, ("{tmp}/new.json",), raw=b'{"schema": "\xff\xfe"}'),
    _compare_case("compare-empty-file", None, ("{tmp}/new.json",), raw=""),
    _compare_case("compare-no-schema", None, ("{tmp}/new.json", "schema"), raw='{"verdicts": []}'),
    _compare_case("compare-rule-only-commas", BASE_VERDICTS, ("regression rule", "e.g. fps:10%"), fail=" , "),
    _compare_case("compare-rule-negative", BASE_VERDICTS, ("psnr:-1",), fail="psnr:-1"),
    Case("compare-summary-huge-sparse", "history", setup=_both(
        lambda t: (t / "base.json").write_text(json.dumps(_summary_doc(BASE_VERDICTS))),
        lambda t: os.truncate(_write("new.json", "{")(t) or t / "new.json", 300 << 20)),
        argv=["compare", "{tmp}/base.json", "{tmp}/new.json"], expect=("{tmp}/new.json", "MB")),
    _history_case("history-foreign-deeply-nested", ("zz-foreign.json", lambda p: p.write_text(_deep_json(100_000))),
                  skipped="zz-foreign.json"),
    _history_case("history-foreign-measured-text", ("zz-bad.json", lambda p: p.write_text(json.dumps(
        _summary_doc([_verdict("psnr", "abc")], timestamp="2026-01-03T00:00:00Z")))), skipped="zz-bad.json"),
    _history_case("history-foreign-verdicts-dict", ("zz-bad.json", lambda p: p.write_text(json.dumps(
        _summary_doc({"x": 1}, timestamp="2026-01-03T00:00:00Z")))), skipped="zz-bad.json"),
    _history_case("history-foreign-list", ("zz.json", lambda p: p.write_text("[]")), skipped="zz.json"),
    _history_case("history-foreign-fifo", ("zz.json", lambda p: os.mkfifo(p)), skipped="zz.json"),
    _history_case("history-foreign-folder", ("zz.json", lambda p: p.mkdir()), skipped="zz.json"),
    _history_case("history-foreign-binary", ("zz.json", lambda p: p.write_bytes(bytes(range(256)))), skipped="zz.json"),
    _history_case("history-foreign-identity-number", ("zz.json", lambda p: p.write_text(json.dumps(
        {"schema": "srharness-summary/2", "identity": {"host": 5, "timestamp": 7}, "verdicts": []}))), skipped="zz.json"),
    Case("history-new-run-nan-in-pytest-gate", "history",
         call=lambda tmp: __import__("srharness.report.history", fromlist=["x"]).regressions(
             __import__("srharness.report.history", fromlist=["x"]).compare_summaries(
                 _summary_doc(BASE_VERDICTS), _summary_doc([_verdict("psnr", float("nan")), BASE_VERDICTS[1]]),
                 __import__("srharness.report.history", fromlist=["x"]).parse_compare_rules("fps:10%"))),
         ok=lambda rows, tmp: len(rows) == 1 and rows[0]["metric"] == "psnr"),
)

# ---------------------------------------------------------------- configs and protocol YAML: one strict loader
def _protocol_file(text: str | bytes, name: str = "p.yaml"):
    def call(tmp: Path):
        from srharness.protocols import load_protocol
        _write(name, text)(tmp)
        return load_protocol(tmp / name)
    return call


def _protocol_eval(text: str):
    """A protocol file through `srharness eval --protocol FILE` (the CLI path)."""
    return ["eval", "srcnn", "--protocol", "{tmp}/p.yaml", "--dataset", "embedded", "--images", "camera", "--work-dir", "{tmp}/work"]


def _yaml_link(name: str, target: str):
    def setup(tmp: Path):
        os.symlink(target, tmp / name)
    return setup


def _deep_yaml(depth: int) -> str:
    return "a: " + "[" * depth + "]" * depth + "\n"


def _tolerances(text: str | bytes):
    def call(tmp: Path):
        from srharness.tolerances import load_tolerances
        _write("tol.yaml", text)(tmp)
        return load_tolerances(tmp / "tol.yaml")
    return call


NIGHTLY_OK = "suites: [suites/srcnn]\n"
add(
    Case("nightly-workers-huge", "config", call=_nightly(NIGHTLY_OK + "workers: 99999999999\n"),
         expect=("workers", "99999999999", "0..1024")),
    Case("nightly-compare-fail-number", "config", call=_nightly(NIGHTLY_OK + "compare_fail: 5\n"),
         expect=("compare_fail", "5", "fps:10%")),
    Case("nightly-compare-fail-list", "config", call=_nightly(NIGHTLY_OK + "compare_fail: [fps]\n"),
         expect=("compare_fail", "['fps']")),
    Case("nightly-not-utf8", "config", setup=_write("bad.yaml", b"suites: [x]\nreport_name: \xff\xfe\n"),
         argv=["nightly", "--config", "{tmp}/bad.yaml"], expect=("{tmp}/bad.yaml", "UTF-8")),
    Case("nightly-100k-deep", "config", setup=_write("deep.yaml", _deep_yaml(100_000)),
         argv=["nightly", "--config", "{tmp}/deep.yaml"], expect=("{tmp}/deep.yaml",)),
    Case("nightly-alias-bomb", "config", setup=_write("bomb.yaml", _alias_bomb()),
         argv=["nightly", "--config", "{tmp}/bomb.yaml"], expect=("{tmp}/bomb.yaml", "alias")),
    Case("nightly-duplicate-key", "config", setup=_write("dup.yaml", NIGHTLY_OK + "workers: 1\nworkers: 2\n"),
         argv=["nightly", "--config", "{tmp}/dup.yaml"], expect=("{tmp}/dup.yaml", "duplicate key 'workers'")),
    Case("nightly-is-fifo", "config", setup=_fifo("n.yaml"), argv=["nightly", "--config", "{tmp}/n.yaml"],
         expect=("{tmp}/n.yaml", "regular file")),
    Case("nightly-link-to-dev-zero", "config", setup=_yaml_link("n.yaml", "/dev/zero"),
         argv=["nightly", "--config", "{tmp}/n.yaml"], expect=("{tmp}/n.yaml", "regular file")),
    Case("nightly-huge-file", "config", setup=lambda t: os.truncate(_write("n.yaml", "#")(t) or t / "n.yaml", 5 << 20),
         argv=["nightly", "--config", "{tmp}/n.yaml"], expect=("{tmp}/n.yaml", "bytes")),
    Case("nightly-huge-number", "config", setup=_write("n.yaml", NIGHTLY_OK + "workers: " + "9" * 5000 + "\n"),
         argv=["nightly", "--config", "{tmp}/n.yaml"], expect=("{tmp}/n.yaml", "number")),
    Case("farm-not-utf8", "config", setup=_write("farm.yaml", b"nightly: \xff\n"),
         argv=["farm", "--config", "{tmp}/farm.yaml"], expect=("{tmp}/farm.yaml", "UTF-8")),
    Case("farm-100k-deep", "config", setup=_write("farm.yaml", _deep_yaml(100_000)),
         argv=["farm", "--config", "{tmp}/farm.yaml"], expect=("{tmp}/farm.yaml",)),
    Case("farm-link-to-dev-zero", "config", setup=_yaml_link("farm.yaml", "/dev/zero"),
         argv=["farm", "--config", "{tmp}/farm.yaml"], expect=("{tmp}/farm.yaml", "regular file")),
    Case("protocol-extends-list", "config", call=_protocol_file("name: mine\nextends: [benchmark, rdn-ascend]\n"),
         expect=("{tmp}/p.yaml", "extends", "ONE protocol")),
    Case("protocol-extends-mapping", "config", call=_protocol_file("name: mine\nextends: {a: 1}\n"),
         expect=("{tmp}/p.yaml", "extends")),
    Case("protocol-named-benchmark", "config", call=_protocol_file("name: benchmark\nshave: 0\n"),
         expect=("{tmp}/p.yaml", "'benchmark'", "built-in", "another name")),
    Case("protocol-named-builtin-extends-other", "config",
         call=_protocol_file("name: benchmark\nextends: rdn-ascend\n"), expect=("{tmp}/p.yaml", "built-in")),
    Case("protocol-eval-named-benchmark", "config", setup=_write("p.yaml", "name: benchmark\nshave: 0\n"),
         argv=_protocol_eval(""), expect=("{tmp}/p.yaml", "built-in")),
    Case("protocol-centre-crop-huge", "config", call=_protocol_file("name: mine\nextends: benchmark\ncentre_crop: 100000\n"),
         expect=("{tmp}/p.yaml", "centre_crop", "100000", "8192")),
    Case("protocol-letterbox-huge", "config", call=_protocol_file("name: mine\nextends: benchmark\nletterbox: 100000\n"),
         expect=("{tmp}/p.yaml", "letterbox", "100000")),
    Case("protocol-input-stretch-huge", "config",
         call=_protocol_file("name: mine\nextends: benchmark\ninput_stretch: [100000, 100000]\n"),
         expect=("{tmp}/p.yaml", "input_stretch", "100000")),
    Case("protocol-shave-huge", "config", call=_protocol_file("name: mine\nextends: benchmark\nshave: 10000000\n"),
         expect=("{tmp}/p.yaml", "shave", "10000000")),
    Case("protocol-link-to-dev-zero", "config", setup=_yaml_link("p.yaml", "/dev/zero"),
         call=lambda tmp: __import__("srharness.protocols", fromlist=["x"]).load_protocol(tmp / "p.yaml"),
         expect=("{tmp}/p.yaml", "regular file"),
         unsafe_before="wrong"),   # the old reader reads /dev/zero until memory runs out
    Case("protocol-eval-link-to-dev-zero", "config", setup=_yaml_link("p.yaml", "/dev/zero"), argv=_protocol_eval(""),
         expect=("{tmp}/p.yaml", "regular file"),
         unsafe_before="wrong"),   # the old reader reads /dev/zero until memory runs out
    Case("protocol-fifo", "config", setup=_fifo("p.yaml"),
         call=lambda tmp: __import__("srharness.protocols", fromlist=["x"]).load_protocol(tmp / "p.yaml"),
         expect=("{tmp}/p.yaml", "regular file")),
    Case("protocol-not-utf8", "config", call=_protocol_file(b"name: m\xff\n"), expect=("{tmp}/p.yaml", "UTF-8")),
    Case("protocol-100k-deep", "config", call=_protocol_file(_deep_yaml(100_000)), expect=("{tmp}/p.yaml",)),
    Case("protocol-alias-bomb", "config", call=_protocol_file(_alias_bomb()), expect=("{tmp}/p.yaml", "alias")),
    Case("protocol-duplicate-key", "config", call=_protocol_file("name: a\nname: b\n"),
         expect=("{tmp}/p.yaml", "duplicate key 'name'")),
    Case("protocol-huge-number", "config", call=_protocol_file("name: a\nextends: benchmark\nshave: " + "9" * 5000 + "\n"),
         expect=("{tmp}/p.yaml", "number")),
    Case("tolerances-not-utf8", "config", call=_tolerances(b"a: \xff\n"), expect=("{tmp}/tol.yaml", "UTF-8")),
    Case("tolerances-100k-deep", "config", call=_tolerances(_deep_yaml(100_000)), expect=("{tmp}/tol.yaml",)),
    Case("tolerances-alias-bomb", "config", call=_tolerances(_alias_bomb()), expect=("{tmp}/tol.yaml", "alias")),
    Case("golden-link-to-dev-zero", "config", setup=_both(lambda t: (t / "g").mkdir(),
                                                          lambda t: os.symlink("/dev/zero", t / "g" / "rdn.yaml")),
         argv=["golden", "check", "{tmp}/g/rdn.yaml"], expect=("{tmp}/g/rdn.yaml", "regular file")),
)

# ---------------------------------------------------------------- cache and faults (ENOSPC simulated by monkeypatching)
def _enospc(target: str):
    """A context: `target` raises ENOSPC as the file system would, without naming a path."""
    def ctx(_tmp: Path):
        from unittest import mock
        return mock.patch(target, side_effect=OSError(28, "No space left on device"))
    return ctx


def _cache_env(tmp: Path):
    from srharness.export_cache import cache_dir_from_env
    return cache_dir_from_env(tmp / "default-cache")


_HELD_LOCKS: list = []


def _hold_export_lock(tmp: Path):
    """Another process holds the export lock of entry m-k (flock is per open file: a second open conflicts)."""
    import fcntl
    lock = tmp / "cache" / ".locks" / "m-k.onnx.lock"
    lock.parent.mkdir(parents=True)
    f = open(lock, "w")
    f.write("424242")
    f.flush()
    fcntl.flock(f, fcntl.LOCK_EX)
    _HELD_LOCKS.append(f)


def _cache_get(tmp: Path):
    from srharness.export_cache import ExportCache
    try:
        return ExportCache(tmp / "cache").get("m", "k", export=lambda out: out.write_bytes(b"x"),
                                              describe=lambda out: None)
    finally:
        while _HELD_LOCKS:
            _HELD_LOCKS.pop().close()


def _archive(tmp: Path):
    from srharness.report.history import archive_summary
    return archive_summary({"schema": "srharness-summary/2", "identity": {}}, tmp / "h")


add(
    Case("cache-env-is-file", "cache", setup=_write("f", "x"), call=_cache_env, env={"SRHARNESS_EXPORT_CACHE": "{tmp}/f"},
         expect=("SRHARNESS_EXPORT_CACHE", "{tmp}/f", "folder")),
    Case("cache-env-under-file", "cache", setup=_write("f", "x"), call=_cache_env,
         env={"SRHARNESS_EXPORT_CACHE": "{tmp}/f/sub"}, expect=("SRHARNESS_EXPORT_CACHE", "{tmp}/f")),
    Case("cache-env-read-only", "cache", call=_cache_env, env={"SRHARNESS_EXPORT_CACHE": "/proc/srharness-cache"},
         expect=("SRHARNESS_EXPORT_CACHE", "/proc/srharness-cache", "writable")),
    Case("cache-env-is-file-eval", "cache", setup=_write("f", "x"), env={"SRHARNESS_EXPORT_CACHE": "{tmp}/f"},
         argv=["eval", "srcnn", "--backend", "ort", "--dataset", "embedded", "--images", "camera", "--work-dir", "{tmp}/work"],
         expect=("SRHARNESS_EXPORT_CACHE", "{tmp}/f")),
    Case("cache-env-is-fifo", "cache", setup=_fifo("f"), call=_cache_env, env={"SRHARNESS_EXPORT_CACHE": "{tmp}/f"},
         expect=("SRHARNESS_EXPORT_CACHE", "{tmp}/f")),
    Case("cache-lock-held", "cache", setup=_hold_export_lock, call=_cache_get,
         env={"SRHARNESS_EXPORT_LOCK_TIMEOUT_S": "1"}, expect=("export cache lock", "PID 424242", "m-k.onnx.lock")),
    Case("cache-lock-timeout-env-bad", "cache", setup=_hold_export_lock, call=_cache_get,
         env={"SRHARNESS_EXPORT_LOCK_TIMEOUT_S": "abc"}, expect=("SRHARNESS_EXPORT_LOCK_TIMEOUT_S", "abc")),
    Case("enospc-export", "cache", context=_enospc("torch.onnx.export"), argv=["export", "srcnn", "-o", "{tmp}/m.onnx"],
         expect=("{tmp}/m.onnx", "No space")),
    Case("enospc-export-rename", "cache", context=_enospc("os.replace"), argv=["export", "srcnn", "-o", "{tmp}/m.onnx"],
         expect=("{tmp}/m.onnx", "No space")),
    Case("enospc-train-checkpoint", "cache", context=_enospc("torch.save"), argv=_train(),
         expect=("{tmp}/run", "No space")),
    Case("enospc-eval-work-dir", "cache", context=_enospc("torch.onnx.export"),
         env={"SRHARNESS_EXPORT_CACHE": "{tmp}/cache"},
         argv=["eval", "srcnn", "--backend", "ort", "--dataset", "embedded", "--images", "camera", "--work-dir", "{tmp}/work"],
         expect=("{tmp}/cache", "No space")),
    Case("enospc-summary-json", "cache", context=_enospc("os.replace"),
         call=lambda tmp: __import__("srharness.report", fromlist=["x"]).write_json_atomic(tmp / "s.json", {}),
         expect=("{tmp}/s.json", "No space"), errors=("OSError",)),
    Case("enospc-history-archive", "cache", context=_enospc("os.replace"), call=_archive,
         expect=("{tmp}/h/runs", "No space"), errors=("OSError",)),
    Case("enospc-merge-copy", "cache", context=_enospc("shutil.copy2"),
         argv=["merge", "-o", "{tmp}/deep/a/b/out", "--no-report", "{tmp}/in/s"], setup=_shard(),
         expect=("{tmp}/deep/a/b/out", "No space")),
    Case("enospc-mkdir-work-dir", "cache", context=_enospc("pathlib.Path.mkdir"),
         argv=["export", "srcnn", "-o", "{tmp}/new/m.onnx"], expect=("{tmp}/new/m.onnx", "No space")),
)

# ---------------------------------------------------------------- leftovers of round 1
def _legacy_two_classes(name: str):
    """A torch <= 0.3 style full-model pickle (legacy format) whose classes lapsrn.Net and lapsrn.Block
    live in a module this process does not have: the refusal must name both at once."""
    def setup(tmp: Path):
        import subprocess
        code = ("import sys, types, torch\nmod = types.ModuleType('lapsrn'); sys.modules['lapsrn'] = mod\n"
                "class Net(torch.nn.Module):\n    def __init__(self):\n        super().__init__(); self.block = Block()\n"
                "class Block(torch.nn.Module):\n    def __init__(self):\n"
                "        super().__init__(); self.conv = torch.nn.Conv2d(1, 1, 3)\n"
                "Net.__module__ = Block.__module__ = 'lapsrn'; mod.Net = Net; mod.Block = Block\n"
                "import warnings; warnings.simplefilter('ignore')\n"
                "torch.save(Net(), sys.argv[1], _use_new_zipfile_serialization=False)\n")
        subprocess.run([sys.executable, "-c", code, str(tmp / name)], check=True, capture_output=True)
    return setup


add(
    Case("legacy-pickle-lists-all-classes", "leftover", setup=_legacy_two_classes("net.pth"),
         argv=["eval", "srcnn", "--weights", "{tmp}/net.pth", "--dataset", "embedded", "--images", "camera"],
         expect=("{tmp}/net.pth", "lapsrn.Net", "lapsrn.Block", "--allow-pickle-class lapsrn.Net,lapsrn.Block")),
    _golden_case("golden-defaults-exceeds-tolerance",
                 _g("  rule: {type: relative, tolerance: 0.01, sides: one-sided}\n",
                    "  rule: {type: exceeds, tolerance: 0.05}\n"), ("defaults", "exceeds", "tolerance")),
    _golden_case("golden-defaults-none-tolerance",
                 _g("  rule: {type: relative, tolerance: 0.01, sides: one-sided}\n",
                    "  rule: {type: none, tolerance: 0.05}\n"), ("defaults", "none", "tolerance")),
    Case("bench-batch-sweep-zero-negative", "leftover", argv=_bench("--batch-sweep", "0,-1"),
         expect=("--batch-sweep", "0,-1", "1..1024")),
    Case("bench-batch-sweep-text", "leftover", argv=_bench("--batch-sweep", "abc"), expect=("--batch-sweep", "abc")),
    Case("bench-batch-sweep-empty", "leftover", argv=_bench("--batch-sweep", ","), expect=("--batch-sweep",)),
    Case("bench-batch-sweep-huge", "leftover", argv=_bench("--batch-sweep", "1,99999"), expect=("--batch-sweep", "99999")),
    Case("bench-batch-sweep-on-cpu-backend", "leftover", argv=_bench("--batch-sweep", "1,2"),
         expect=("--batch-sweep", "GPU")),
)


def test_round_two_adds_at_least_130_kinds():
    """Issue 20: the surfaces added since round 1 (writes, ONNX-only models, plugins, history, configs,
    cache and faults, leftovers)."""
    assert len(CASES) - ROUND2_START >= 130, len(CASES) - ROUND2_START


def test_there_are_at_least_150_kinds():
    assert len(CASES) >= 150, len(CASES)
    assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_a_clear_error(case: Case, tmp_path: Path):
    if case.needs_data and not (DATA_DIR / "weights").is_dir():
        pytest.skip(f"needs the shared data ({DATA_DIR}/weights)")
    verdict, why = classify(case, run_case(case, tmp_path), tmp_path)
    assert verdict == "clear", f"{case.id}: {verdict}: {why}"


@pytest.mark.parametrize("kind", ["null-device", "full-device", "fifo", "socket", "link-to-device"])
def test_device_and_fifo_destinations_are_refused_never_replaced(kind: str, tmp_path: Path):
    """/dev/null-like destinations (stand-ins made here: a char device 1,3 or 1,7 when root, as CI
    runs; never /dev itself) and FIFOs: the atomic writer, the summary-JSON check and `export -o`
    refuse them, and the node is still there, still the same kind, afterwards."""
    import socket
    import stat as st
    dest = tmp_path / "dest"
    if kind in ("null-device", "full-device", "link-to-device"):
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root (CI runs as root)")
        node = tmp_path / "node" if kind == "link-to-device" else dest
        os.mknod(node, 0o666 | st.S_IFCHR, os.makedev(1, 7 if kind == "full-device" else 3))
        if kind == "link-to-device":
            os.symlink(node, dest)
    elif kind == "fifo":
        os.mkfifo(dest)
    else:
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(dest))
        s.close()
    before = os.lstat(dest)
    from srharness.errors import OutputPathError
    from srharness.fileio import atomic_write_text
    from srharness.report import check_writable
    with pytest.raises(OutputPathError, match="not a regular file"):
        atomic_write_text(dest, "{}")
    with pytest.raises(OutputPathError, match="--sr-summary-json"):
        check_writable(dest, "--sr-summary-json", directory=False)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        from srharness.cli import main as cli
        code = cli(["export", "srcnn", "-o", str(dest)])
    assert code == 2 and str(dest) in err.getvalue() and "Traceback" not in err.getvalue(), err.getvalue()
    after = os.lstat(dest)
    assert (after.st_mode, after.st_ino, getattr(after, "st_rdev", 0)) == \
        (before.st_mode, before.st_ino, getattr(before, "st_rdev", 0)), "the node was replaced"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == [], "a temporary was left behind"

# ============================================================================ the before/after table
def main() -> int:
    """Classify every case against the srharness on sys.path; print one line per case and the totals."""
    import tempfile
    import srharness
    print(f"srharness from {Path(srharness.__file__).parent}", file=sys.stderr)
    totals: dict[str, dict[str, int]] = {}
    cases = CASES[ROUND2_START:] if "--round2" in sys.argv else CASES
    if "--start-at" in sys.argv:    # resume a long classification at a case id
        start = sys.argv[sys.argv.index("--start-at") + 1]
        cases = cases[[c.id for c in cases].index(start):]
    for case in cases:
        if case.needs_data and not (DATA_DIR / "weights").is_dir():
            continue
        if case.unsafe_before and "--unsafe-skip" in sys.argv:
            verdict, why = case.unsafe_before, "not run (would exhaust memory); outcome from the issue or the code"
        else:
            with tempfile.TemporaryDirectory() as d:
                verdict, why = classify(case, run_case(case, Path(d), timeout=30), Path(d))
        totals.setdefault(case.area, {}).setdefault(verdict, 0)
        totals[case.area][verdict] += 1
        print(f"{case.area:10s} {case.id:40s} {verdict:9s} {why[:150]!r}", flush=True)
    print(json.dumps(totals, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
