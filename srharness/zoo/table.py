"""The deployability table: for each SR architecture spandrel supports (srharness.zoo.catalogue,
spandrel's own classes, small configurations, random weights), what a deployment team needs to
know before it books a card.

Columns (each a measurement, or "-" with the reason in `notes`):
- params; GFLOPs at 1x3x256x256 by torch.utils.flop_counter. Convention: FLOPs = 2 x multiply-adds
  of conv / matmul / attention kernels only (elementwise ops, norms and activations are not counted).
  VDSR by this counter: 87.2 GFLOPs (43.6 G multiply-adds); the guides' "96.805 GFLOPs" counts more.
- export at opsets 9/11/13/17 (torch's legacy exporter, the one that honours the opset): ok, or the
  first unsupported op as the exporter names it.
- ort: onnxruntime fp32 vs torch on real images: a centre crop of each Set5 image (the embedded
  photos without a data dir; srharness.deploy.real_inputs), max abs over all, and the worst
  image's PSNR (data range 1; the `fidelity` tolerance's statistic, srharness.statistics).
- d2s: DepthToSpace rewritten to Reshape/Transpose/Reshape (srharness.export) where the opset-17
  graph has it, the rewritten graph vs torch.
- fp16: torch half precision on the same crops: inf/NaN in any module's output (overflow), then
  the worst PSNR vs fp32.
- int8: onnxruntime QDQ per-channel MinMax (srharness.quantize), calibrated on the crops, worst
  PSNR vs torch, and its CPU time ratio fp32/int8 (> 1: int8 faster).
- dynamic: one export with dynamic H, W run at a second size vs torch at that size (a crop of the
  first image).
- tiled: srharness.protocols.run_tiled vs the whole image (a 3x3-tile crop of the first image).
- will not compile on: hardware whose op profile (srharness/zoo/op_profiles/*.yaml) names an op or
  pattern of the graph the hardware's guide would export (its opset).
Every row ends pass / fail / not judged with the reason. Bounds: srharness/tolerances.yaml
(fidelity: ort, ort-fp16, ort-int8-minmax; tiled_agreement).
"""
from __future__ import annotations

import contextlib
import importlib
import json
import math
import re
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

OPSETS = (9, 11, 13, 17)
FLOP_SHAPE = (1, 3, 256, 256)
COLUMNS = ("arch", "purpose", "scale", "params", "gflops_256", "op9", "op11", "op13", "op17", "ort", "d2s",
           "fp16", "int8", "int8_speed", "dynamic", "tiled", "will_not_compile_on", "verdict")
IMAGES = 5   # agreement crops: one of each Set5 image

def _round_up(x: int, m: int) -> int:
    return -(-x // m) * m


def _first_op(message: str) -> str:
    """The op an export failure names (aten::pad, prim::ConstantChunk...), else its first words."""
    m = re.search(r"export of (\w+) in opset", message)
    if m:   # "Unsupported: ONNX export of Pad in opset 9. The sizes of the padding must be constant"
        why = re.search(r"in opset \d+\. ([^.]+)\.", message)
        return m.group(1) + (f" ({why.group(1)})" if why else "")
    m = re.search(r"export of operator ([\w:]+)", message) or re.search(r"operator '([^']+)'", message) or re.search(r"(aten::\w+|prim::\w+|onnx::\w+)", message)
    if m:
        return m.group(1).removeprefix("aten::")
    return message.split(": ", 2)[-1][:80]


def test_inputs(data_dir, side: int) -> tuple[list[np.ndarray], np.ndarray, str]:
    """(the agreement crops: side x side of each of the first IMAGES images, a 3side x 3side crop of
    the first for tiling and dynamic shapes, where they came from), all by srharness.deploy.real_inputs."""
    from srharness.deploy import real_inputs
    crops = real_inputs((side, side), data_dir, IMAGES)
    big = real_inputs((3 * side, 3 * side), data_dir, 1)[0]
    where = "Set5" if data_dir is not None else "embedded photos (no data dir: not Set5)"
    return crops, big, (f"{where}: centre crops {side}x{side} of {len(crops)} images; tiling and dynamic H/W "
                        f"on a {3 * side}x{3 * side} crop of the first")


def _build(pkg: str, cls: str, kwargs: dict):
    import torch

    from srharness.zoo import require_spandrel
    spandrel = require_spandrel()
    C = getattr(importlib.import_module(f"spandrel.architectures.{pkg}"), cls)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        raw = C(**kwargs)
    # the table's model is what spandrel detects from the state_dict: the path a user's checkpoint takes
    desc = spandrel.ModelLoader(device="cpu").load_from_state_dict(raw.state_dict())
    return desc.eval()


def _flops(model, shape) -> float:
    """GFLOPs (2 x multiply-adds) on meta tensors: shapes only, no arithmetic; real tensors when
    an op has no meta kernel."""
    import copy

    import torch
    from torch.utils.flop_counter import FlopCounterMode
    try:
        m = copy.deepcopy(model).to("meta")
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            m(torch.empty(shape, device="meta"))
    except Exception:
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            model(torch.rand(shape))
    return fc.get_total_flops() / 1e9


def _fp16(model, xs: list[np.ndarray], refs: list[np.ndarray]) -> tuple[str, str | None, float | None]:
    """(cell, overflow note, worst psnr): every module output checked for inf/NaN in half precision."""
    from srharness.tolerances import tolerance
    import copy

    import torch
    bad: list[str] = []

    def hook(mod, inp, out):
        outs = out if isinstance(out, (tuple, list)) else (out,)
        for o in outs:
            if isinstance(o, torch.Tensor) and o.is_floating_point() and not bool(torch.isfinite(o).all()):
                bad.append(name_of.get(mod, type(mod).__name__))
    m = copy.deepcopy(model).half()
    name_of = {mod: n or "model" for n, mod in m.named_modules()}
    handles = [mod.register_forward_hook(hook) for mod in m.modules()]
    try:
        with torch.no_grad():
            ys = [m(torch.from_numpy(x).half()).float().numpy() for x in xs]
    finally:
        for h in handles:
            h.remove()
    if bad:
        return f"overflow in {bad[0]}", f"fp16: inf/NaN first in {bad[0]} ({len(bad)} module outputs)", None
    p = tolerance("fidelity").measure(ys, refs, 1.0)
    return f"{p:.1f} dB", None, p


def _ort(path: Path, x: np.ndarray, threads: int = 1):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return s, (lambda a: s.run(None, {s.get_inputs()[0].name: a})[0])


def _time(run, x: np.ndarray, reps: int = 5) -> float:
    run(x)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _ort_error(exc: BaseException) -> str:
    """onnxruntime's failure in a table cell: the node and its status, not the boilerplate."""
    text = str(exc)
    node = re.search(r"running (\w+) node\. Name:'([^']*)'", text)
    status = re.search(r"Status Message: (.*)", text)
    if node:
        return f"{node.group(1)} {node.group(2)}: {(status.group(1) if status else '')[:90]}"
    return text.splitlines()[0][:120] if text else type(exc).__name__


def _failed(out: dict, checks: dict, column: str, exc: BaseException) -> None:
    """A column whose step raised: onnxruntime's failure in the cell, the check failed."""
    out[column] = f"fails: {_ort_error(exc)}"
    checks[column] = "fail"


@contextlib.contextmanager
def _quiet_fds():
    """The exporter dumps the whole TorchScript graph and onnxruntime logs to the process's own
    stdout/stderr (C++ writes, not Python's): silenced at the file-descriptor level while a row runs."""
    import os
    import sys
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def judge(row: str, pkg: str, cls: str, kwargs: dict, data_dir=None, work_dir=None, quiet: bool = True,
          stage_file=None) -> dict:
    """One row of the table (never raises: a step that cannot run says why in notes). stage_file:
    each step's name is written there before it starts, so that a crash of the process (a segfault
    in torch's tracer) is named by its step (`_run_row`)."""
    times: dict[str, float] = {}     # each step's seconds (where a row's time goes)
    last = [None, time.perf_counter()]

    def stage(name) -> None:
        now = time.perf_counter()
        if last[0]:
            times[last[0]] = round(times.get(last[0], 0) + now - last[1], 2)
        last[:] = [name, now]
        if stage_file and name:
            Path(stage_file).write_text(name, encoding="utf-8")
    with contextlib.nullcontext() if not quiet else _quiet_fds():
        out = _judge(row, pkg, cls, kwargs, data_dir, work_dir, stage)
    stage(None)
    out["stage_seconds"] = times
    return out


def _judge(row: str, pkg: str, cls: str, kwargs: dict, data_dir=None, work_dir=None, stage=lambda name: None) -> dict:
    import torch
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    from srharness.export import ExportError, export_onnx, op_census
    from srharness.protocols import run_tiled
    from srharness.tolerances import tolerance
    from srharness.zoo.catalogue import MIN_SIDE
    from srharness.zoo.profiles import will_not_compile
    fidelity = tolerance("fidelity")
    agree = lambda outs, refs: fidelity.measure(outs, refs, 1.0)   # the floor's own statistic (worst image)
    out: dict = {c: "-" for c in COLUMNS}
    out.update(arch=row, config=kwargs, notes=[], checks={})
    notes, checks = out["notes"], out["checks"]
    t0 = time.perf_counter()
    stage("build (spandrel class, then detection from its state_dict)")
    try:
        desc = _build(pkg, cls, kwargs)
    except Exception as exc:
        out.update(verdict="not judged", reason=f"spandrel {pkg}.{cls}{kwargs} does not build or detect: "
                                                 f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}")
        return out
    model = desc.model
    req = desc.size_requirements
    mult = int(req.multiple_of or 1)
    scale = int(desc.scale)
    out.update(purpose=str(desc.purpose), scale=scale, detected=desc.architecture.id,
               params=sum(p.numel() for p in model.parameters()),
               size_rule=f"min {req.minimum}, multiple of {mult}")
    side = _round_up(max(MIN_SIDE.get(row, 32), int(req.minimum or 0)), mult)
    xs, x, source = test_inputs(data_dir, side)
    out["image"] = source
    stage("flops")
    try:
        out["gflops_256"] = round(_flops(model, FLOP_SHAPE), 3)
    except Exception as exc:
        notes.append(f"flops: {type(exc).__name__}: {str(exc)[:100]}")
    in_ch = int(desc.input_channels)
    stage("torch forward")
    try:
        with torch.no_grad():
            ys = [model(torch.tensor(a)) for a in xs]  # copies: spandrel's RCAN scales its input in place
    except Exception as exc:
        out.update(verdict="fail", reason=f"torch forward fails on a {side}x{side} input (spandrel's size rule: "
                                          f"{out['size_rule']}): {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
        checks["forward"] = "fail"
        return _finish(out, t0)
    if not all(isinstance(y, torch.Tensor) for y in ys):
        kind = next(type(y).__name__ for y in ys if not isinstance(y, torch.Tensor))
        out.update(verdict="fail", reason=f"forward returns a {kind}, not one image tensor: no single "
                                          "ONNX output to deploy")
        checks["forward"] = "fail"
        return _finish(out, t0)
    refs = [y.numpy() for y in ys]
    work = Path(work_dir or tempfile.mkdtemp(prefix="srh-zoo-"))
    work.mkdir(parents=True, exist_ok=True)
    censuses: dict[int, dict] = {}
    paths: dict[int, Path] = {}
    for op in OPSETS:
        path = work / f"{row}-op{op}.onnx"
        stage(f"ONNX export at opset {op} (torch.jit trace)")
        try:
            r = export_onnx(model, path, opset=op, shape=(side, side), in_channels=in_ch)
            censuses[op], paths[op] = r.op_census, path
            out[f"op{op}"] = "ok"
        except ExportError as exc:
            out[f"op{op}"] = f"fails: {_first_op(str(exc))}"
    checks["export"] = "pass" if censuses else "fail"
    if not censuses:
        out.update(verdict="fail", reason=f"exports at no opset of {list(OPSETS)} ({out['op17']})")
        return _finish(out, t0)
    best = max(censuses)
    out["opset_used"] = best
    stage(f"onnxruntime fp32 (opset {best})")
    try:
        _, run32 = _ort(paths[best], xs[0])
        got = [run32(a) for a in xs]
        p = agree(got, refs)
        out["ort"] = f"{max(float(np.abs(g - r).max()) for g, r in zip(got, refs)):.1e} / {p:.0f} dB"
        checks["ort"] = "pass" if p >= fidelity.floor("ort") else "fail"
    except Exception as exc:
        _failed(out, checks, "ort", exc)
    if censuses[best].get("DepthToSpace"):
        stage("DepthToSpace rewrite")
        try:
            import onnx

            from srharness.export import rewrite_depth_to_space
            proto = onnx.load(str(paths[best]))
            n = censuses[best]["DepthToSpace"]
            rewrite_depth_to_space(proto)
            rp = work / f"{row}-op{best}-rewritten.onnx"
            onnx.save(proto, str(rp))
            _, runr = _ort(rp, xs[0])
            p = agree([runr(a) for a in xs], refs)
            left = op_census(proto).get("DepthToSpace", 0)
            out["d2s"] = f"{n} rewritten, {p:.0f} dB" + (f", {left} left" if left else "")
            checks["d2s"] = "pass" if p >= fidelity.floor("ort") and not left else "fail"
        except Exception as exc:
            _failed(out, checks, "d2s", exc)
    else:
        out["d2s"] = "n/a (none)"
    stage("fp16 (torch half)")
    try:
        cell, note, p = _fp16(model, xs, refs)
        out["fp16"] = cell
        if note:
            notes.append(note)
        checks["fp16"] = "pass" if p is not None and p >= fidelity.floor("ort-fp16") else "fail"
    except Exception as exc:   # an op with no half kernel on the CPU: onnxruntime's fp16 graph instead
        notes.append(f"fp16: torch half has no CPU kernel here ({str(exc).splitlines()[0][:80]}); "
                     "onnxruntime fp16 (srharness.quantize.to_fp16) measured instead, per-activation overflow not checked")
        stage("fp16 (onnxruntime fp16 graph)")
        try:
            from srharness.quantize import to_fp16
            _, run16 = _ort(to_fp16(paths[best], work / f"{row}-fp16.onnx"), xs[0])
            got16 = [run16(a).astype(np.float32) for a in xs]
            if not all(np.isfinite(g).all() for g in got16):
                out["fp16"], p = "ort-fp16 output inf/NaN", None
            else:
                p = agree(got16, refs)
                out["fp16"] = f"{p:.1f} dB (ort-fp16)"
            checks["fp16"] = "pass" if p is not None and p >= fidelity.floor("ort-fp16") else "fail"
        except Exception as exc2:
            _failed(out, checks, "fp16", exc2)
    if best >= 13:
        stage("int8 QDQ (onnxruntime quantization)")
        try:
            from srharness.quantize import to_int8
            q = to_int8(paths[best], xs, calibrate_mode="max", out_path=work / f"{row}-int8.onnx")
            _, run8 = _ort(q, xs[0])
            p = agree([run8(a) for a in xs], refs)
            out["int8"] = f"{p:.1f} dB"
            checks["int8"] = "pass" if p >= fidelity.floor("ort-int8-minmax") else "fail"
            out["int8_speed"] = f"{_time(run32, xs[0]) / _time(run8, xs[0]):.2f}x"
        except Exception as exc:
            _failed(out, checks, "int8", exc)
    else:
        out["int8"] = "n/a (QDQ per-channel needs opset >= 13)"
    stage(f"dynamic H/W export at opset {best} (torch.jit trace)")
    try:
        dp = work / f"{row}-op{best}-dyn.onnx"
        export_onnx(model, dp, opset=best, shape=(side, side), dynamic=True, in_channels=in_ch)
        x2 = np.ascontiguousarray(x[:, :, :side + mult * max(1, 8 // mult), :2 * side])
        with torch.no_grad():
            ref2 = model(torch.tensor(x2)).numpy()
        _, rund = _ort(dp, xs[0])
        p = agree([rund(x2)], [ref2])
        out["dynamic"] = f"ok at {x2.shape[2]}x{x2.shape[3]} ({p:.0f} dB)" if p >= fidelity.floor("ort") else \
            f"wrong at {x2.shape[2]}x{x2.shape[3]} ({p:.0f} dB)"
        checks["dynamic"] = "pass" if p >= fidelity.floor("ort") else "fail"
    except Exception as exc:
        msg = _ort_error(exc)
        out["dynamic"] = "fails: " + (f"shape baked in ({msg})" if "Reshape" in msg else msg)
        checks["dynamic"] = "fail"
    stage("tiled vs whole (torch)")
    try:
        tiled_agreement = tolerance("tiled_agreement")
        ov = _round_up(16, mult)
        step = side
        tile = step + 2 * ov
        # 3 tiles a side, each at least step + overlap (>= the size rule's minimum): run_tiled's
        # last tile would be only 2 x overlap on a 2-step image
        xt = np.ascontiguousarray(x[:, :, :3 * step, :3 * step])
        run = lambda a: model(torch.tensor(a)).numpy()
        with torch.no_grad():
            whole, tiled = run(xt), run_tiled(run, xt, scale, tile, overlap=ov, multiple=mult)
        p = tiled_agreement.measure([tiled], [whole], 1.0)
        out["tiled"] = f"exact (tile {tile}, overlap {ov})" if p == math.inf else f"{p:.0f} dB (tile {tile}, overlap {ov})"
        checks["tiled"] = "pass" if p >= tiled_agreement.floor("fp32") else "fail"
    except Exception as exc:
        out["tiled"] = f"fails: {type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''}"
        checks["tiled"] = "fail"
    stage("op profiles")
    blocked = will_not_compile(censuses, failed={op: out[f"op{op}"] for op in OPSETS if op not in censuses})
    out["will_not_compile_on"] = blockers_cell(blocked)
    out["hardware"] = blocked          # the full reasons, each op with its source document
    return _finish(out, t0)


def blockers_cell(blocked: dict[str, str]) -> str:
    """The will-not-compile cell: per hardware the ops its profile names (their sources are in
    the row's `hardware`), hardware with the same reason grouped: "ascend, vacc: no graph at opset
    <= 9 (fails: flip); tensorrt-8.5: LayerNormalization (opset 17)"."""
    by_reason: dict[str, list[str]] = {}
    for hw, why in blocked.items():
        ops = re.findall(r"(\w+) at opset (\d+) \(", why)
        text = f"{', '.join(dict.fromkeys(o for o, _ in ops))} (opset {ops[0][1]})" if ops else why
        by_reason.setdefault(text, []).append(hw)
    return "; ".join(f"{', '.join(hws)}: {text}" for text, hws in by_reason.items()) or "none known"


def _finish(out: dict, t0: float) -> dict:
    failed = [k for k, v in out["checks"].items() if v == "fail"]
    if "verdict" not in out or out["verdict"] == "-":
        out["verdict"] = "fail" if failed else "pass"
        out["reason"] = ("failed: " + ", ".join(f"{k} ({out.get(k, '')})" for k in failed)) if failed else \
            f"exports (opset {out.get('opset_used')}), onnxruntime, fp16, int8, dynamic H/W and tiling within " \
            "srharness/tolerances.yaml"
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


ROW_TIMEOUT_S = 600   # one row; the slowest measured here took 234 s on 2 cores shared with 7 other jobs


# what every row's process imports (about 4 CPU-s each: torch, spandrel with torchvision, onnx,
# onnxruntime): imported once by the forkserver, which forks a fresh process per row from it, instead
# of starting a new python per row (31 rows: ~130 CPU-s saved of the zoo job)
PRELOAD = ("torch", "spandrel", "onnx", "onnxruntime", "onnxruntime.quantization", "srharness.zoo.table",
           "srharness.export", "srharness.quantize", "srharness.protocols", "srharness.zoo.profiles")


def _row_context():
    """The forkserver context rows start from (created once per process, with PRELOAD imported; the
    forkserver is single-threaded, so forking it is safe where forking a threaded parent is not)."""
    import multiprocessing
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(list(PRELOAD))
    return _CONTEXT


_CONTEXT = None


def _row_process(argv: list[str], log_file: str) -> None:
    """A row's process: its stdout/stderr to log_file (the last line names a crash), then _main."""
    import os
    import sys
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.exit(_main(argv))


def _run_row(name: str, data_dir, work: Path, timeout: float, target=_row_process) -> dict:
    """One row in its own process (forked from the preloaded forkserver): a crash (segfault in an
    exporter) or a hang costs that row only. target: the process's function (a test's crashing one)."""
    out_file, stage_file, log_file = work / f"{name}.json", work / f"{name}.stage", work / f"{name}.log"
    work.mkdir(parents=True, exist_ok=True)
    argv = [name, "--out", str(out_file), "--work-dir", str(work / name), "--stage-file", str(stage_file)]
    if data_dir:
        argv += ["--data-dir", str(data_dir)]
    t0 = time.perf_counter()
    proc = _row_context().Process(target=target, args=(argv, str(log_file)), daemon=True)
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return {"arch": name, "verdict": "not judged", "reason": f"{_stage_of(stage_file)} did not finish in "
                f"{timeout:.0f} s (row timeout)", "seconds": round(time.perf_counter() - t0, 1)}
    if proc.exitcode != 0 or not out_file.is_file():
        try:
            tail = log_file.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or [""]
        except OSError:
            tail = [""]
        how = _signal_name(-proc.exitcode) if proc.exitcode < 0 else f"exit {proc.exitcode}"
        return {"arch": name, "verdict": "not judged", "reason": f"{_stage_of(stage_file)} crashed with {how} (the "
                f"row's own process; a crash in torch, not a finding about the graph){': ' + tail[0][:160] if tail[0] else ''}",
                "seconds": round(time.perf_counter() - t0, 1)}
    return json.loads(out_file.read_text())


def _stage_of(stage_file: Path) -> str:
    """The step a row's process had reached (judge's stage file)."""
    try:
        return stage_file.read_text(encoding="utf-8").strip() or "its first step"
    except OSError:
        return "its start (before the first step)"


def _signal_name(number: int) -> str:
    import signal
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def build_table(data_dir=None, only=None, workers: int = 2, work_dir=None, timeout: float = ROW_TIMEOUT_S) -> list[dict]:
    """All rows (catalogue order), `workers` rows at a time, each in its own process with one torch thread."""
    from concurrent.futures import ThreadPoolExecutor

    from srharness.zoo import require_spandrel
    from srharness.zoo.catalogue import CATALOGUE, SLOWEST_FIRST
    require_spandrel()
    names = [e[0] for e in CATALOGUE]
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            from srharness.zoo import ZooError
            raise ZooError(f"unknown architecture(s) {', '.join(unknown)}; known: {', '.join(names)}")
        names = [n for n in names if n in only]
    work = Path(work_dir or tempfile.mkdtemp(prefix="srh-zoo-table-"))
    # slowest first, so that the workers finish together; the rows come back in catalogue order
    started = sorted(names, key=lambda n: SLOWEST_FIRST.index(n) if n in SLOWEST_FIRST else len(SLOWEST_FIRST))
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = {n: pool.submit(_run_row, n, data_dir, work, timeout) for n in started}
            return [futures[n].result() for n in names]
    finally:
        _stop_forkserver()


def _stop_forkserver() -> None:
    """Stop and wait for the forkserver the rows came from: its memory (torch imported) is freed now,
    not at interpreter exit, and its rows' CPU time is counted in this process's children's (time,
    CI's accounting) instead of going to init with the orphan. multiprocessing has no public stop;
    its private one is used where it exists (CPython 3.10-3.13)."""
    import multiprocessing.forkserver as fs
    stop = getattr(getattr(fs, "_forkserver", None), "_stop", None)
    if stop is not None:
        stop()


def _main(argv=None) -> int:
    """`python -m srharness.zoo.table ROW --out FILE`: one row as JSON (the table's worker)."""
    import argparse

    from srharness.zoo.catalogue import CATALOGUE
    p = argparse.ArgumentParser(prog="python -m srharness.zoo.table")
    p.add_argument("row")
    p.add_argument("--out", required=True)
    p.add_argument("--data-dir")
    p.add_argument("--work-dir")
    p.add_argument("--stage-file")
    a = p.parse_args(argv)
    entry = next(e for e in CATALOGUE if e[0] == a.row)
    row = judge(*entry, data_dir=a.data_dir, work_dir=a.work_dir, stage_file=a.stage_file)
    Path(a.out).write_text(to_json([row])[1:-1].strip() or "{}")
    return 0


SHOWN = ("arch", "scale", "params", "gflops_256", "op9", "op11", "op13", "op17", "ort", "d2s", "fp16", "int8",
         "int8_speed", "dynamic", "tiled", "will_not_compile_on", "verdict")


def markdown(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(SHOWN) + " | reason |", "|" + "---|" * (len(SHOWN) + 1)]
    for r in rows:
        cells = [str(r.get(c, "-")) for c in SHOWN] + [str(r.get("reason", ""))]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


VERDICT_STYLE = {"pass": ("#d8f3dc", "#1b5e20"), "fail": ("#ffcdd2", "#b71c1c"), "not judged": ("#e0e0e0", "#424242")}
SECTION = "Deployability table"
WRAPPED = {"reason": "wide", "will_not_compile_on": "wide", **{c: "cell" for c in ("op9", "op11", "op13", "op17", "ort",
                                                                                    "d2s", "dynamic", "tiled")}}   # its name in the report and in the summary JSON's sections


def html_page(rows: list[dict]) -> str:
    """The table as one self-contained HTML page (the report's section): the summary line, then a
    row per architecture, the verdict coloured, the hardware it will not compile on, the reason."""
    import html

    from srharness.report import height_meta
    esc = lambda v: html.escape("" if v is None else str(v))
    # what a reader wants first, on the report's narrow page: the verdict, why, and where it will not compile
    columns = ("arch", "verdict", "reason", "will_not_compile_on", *(c for c in SHOWN if c not in
                                                                      ("arch", "verdict", "will_not_compile_on")))
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for r in rows:
        bg, fg = VERDICT_STYLE.get(str(r.get("verdict")), VERDICT_STYLE["not judged"])
        cells = "".join(f'<td style="background:{bg};color:{fg};font-weight:bold">{esc(r.get(c, "-"))}</td>'
                        if c == "verdict" else f"<td class='{WRAPPED.get(c, 'n')}'>{esc(r.get(c, '-'))}</td>"
                        for c in columns)
        body.append(f"<tr>{cells}</tr>")
    style = ("body{font:12px system-ui,sans-serif;margin:6px}h1{font-size:15px;margin:0 0 4px}"
             "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:2px 5px;text-align:left;"
             "vertical-align:top}th{background:#eee;position:sticky;top:0}td.n{white-space:nowrap}"
             "td.wide{min-width:280px;max-width:420px}td.cell{min-width:90px;max-width:200px}.muted{color:#555}")
    line = summary(rows)["line"]
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'>{height_meta(90 + 44 * (len(rows) + 1))}"
            f"<style>{style}</style></head><body><h1>{esc(SECTION)}</h1><p>{esc(line)}</p>"
            "<p class='muted'>spandrel's own classes, small configurations, random weights: the graph, not the "
            "weights. How to read it: README, 'Is my model deployable?'; bounds: srharness/tolerances.yaml; "
            "op profiles (each with its vendor document): srharness/zoo/op_profiles/.</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></body></html>")


def to_json(rows: list[dict]) -> str:
    def safe(v):
        if isinstance(v, float) and not math.isfinite(v):
            return "inf" if v > 0 else str(v)
        return v
    return json.dumps([{k: safe(v) for k, v in r.items()} for r in rows], indent=2, default=str)


if __name__ == "__main__":
    import sys
    sys.exit(_main())


def summary(rows: list[dict]) -> dict:
    """Counts by verdict and the opset-9 export failures by op (the Ascend/vacc guides' opset)."""
    from collections import Counter
    verdicts = Counter(r.get("verdict", "not judged") for r in rows)
    op9: dict[str, list[str]] = {}
    for r in rows:
        cell = str(r.get("op9", ""))
        if cell.startswith("fails: "):
            op9.setdefault(cell[len("fails: "):].split(" (")[0], []).append(r["arch"])
    line = (f"{len(rows)} architectures: {verdicts.get('pass', 0)} pass, {verdicts.get('fail', 0)} fail, "
            f"{verdicts.get('not judged', 0)} not judged; opset-9 export fails on "
            + ("; ".join(f"{op}: {', '.join(a)}" for op, a in sorted(op9.items())) or "none"))
    return {"rows": len(rows), "verdicts": dict(verdicts), "opset9_failures": op9, "line": line}
