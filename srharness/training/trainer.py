"""RCAN training as the Ascend guide runs it (PROTOCOLS.md section B): yjn870/RCAN-pytorch layout
(`RCANTraining`), L1 loss, Adam with a constant learning rate, LR patches of 48 from 96x96 HR
tiles, batch 16 per process, optional mixed precision, checkpoints that resume exactly.

`run_training(config, nproc)` is the entry point for pytest, the CLI and torchrun alike.

Throughput options (all off by default, so the default run is the guide's): `sampling`
"replacement" draws each step's tiles with replacement (the guide's batch 160 per device on any
dataset) or "synthetic" feeds one random device batch; `channels_last`, `cudnn_benchmark`,
`fused_adam` (GradScaler then skips/unscales on the device, no `.item()` per step) and
`step_sync=False` (no per-step device sync or loss read; images/s from the wall time after
warm-up); `profile_steps` writes a torch.profiler table and trace. The DataLoader is created once
per run, not once per epoch (an epoch of Set5 is 2 steps at batch 16).
"""
from __future__ import annotations
from srharness.fileio import atomic_path, atomic_write_text

import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from . import distributed
from .data import TileDataset, TrainingDataError, training_dataset
from srharness.checkpoints import CheckpointError
from srharness.errors import SrHarnessError

CHECKPOINT_FORMAT = "srharness-rcan-training/1"
RESULT_FILE = "result.json"
LOG_FILE = "train.log"
ARCHITECTURE_KEYS = ("scale", "groups", "blocks", "features", "reduction")
SAMPLINGS = ("epoch", "replacement", "synthetic")


class TrainingError(SrHarnessError, RuntimeError):
    """A training run that cannot start or continue; the message says what to change."""


class TrainingCheckpointError(TrainingError, CheckpointError):
    """A checkpoint that cannot be resumed from; the message names the file and the fix. It is a
    srharness.checkpoints.CheckpointError too: one name, one class."""


@dataclass
class TrainConfig:
    out_dir: str                      # checkpoints, result.json and train.log go here (rank 0)
    data_dir: str | None = None       # folder of HR images; None: scikit-image's embedded photos
    eval_dir: str | None = None       # folder of HR images for the guide's PSNR (e.g. Set5 HR)
    scale: int = 2
    groups: int = 10                  # guide: 10 residual groups x 20 RCAB x 64 features
    blocks: int = 20
    features: int = 64
    reduction: int = 16
    patch: int = 48                   # LR patch; HR tiles are patch * scale
    batch: int = 16                   # per process; the global batch is batch * processes
    lr: float = 1e-4                  # constant, as in the guide
    steps: int = 100                  # optimiser steps in total (a resumed run counts on)
    seed: int = 0
    amp: bool = False                 # autocast: fp16 + GradScaler on cuda/npu, bf16 on cpu
    device: str = "auto"              # auto | cpu | cuda | npu
    workers: int = 0                  # DataLoader workers per process
    warmup: int = 6                   # steps left out of the throughput (the guide skips 6)
    log_every: int = 10               # guide-format log line period
    checkpoint_every: int = 0         # 0: a checkpoint at the end only
    resume: str | None = None         # checkpoint to continue from
    threads: int | None = None        # torch threads per process; None: cores / processes on CPU
    # --- throughput options (srharness train --perf); the defaults are the guide's exact run
    sampling: str = "epoch"           # epoch: the guide's sampler | replacement: random tiles, any batch | synthetic
    channels_last: bool = False       # NHWC activations (tensor-core convolutions)
    cudnn_benchmark: bool = False     # let cuDNN time its algorithms for the fixed patch shape
    step_sync: bool = True            # sync + read the loss every step (the guide's per-step timing)
    fused_adam: bool = False          # Adam(fused=True): GradScaler then unscales/skips on the device, no .item()
    profile_steps: int = 0            # torch.profiler over this many steps after warm-up -> out_dir/profile.*

    def architecture(self) -> dict:
        return {k: getattr(self, k) for k in ARCHITECTURE_KEYS}

    def validate(self) -> None:
        """TrainingError for settings that cannot train, before any process starts."""
        problems = [f"--{name} {getattr(self, name)}: must be >= {low}" for name, low in
                    (("scale", 2), ("groups", 1), ("blocks", 1), ("patch", 1), ("batch", 1), ("steps", 1))
                    if getattr(self, name) < low]
        if self.features < self.reduction:
            problems.append(f"--features {self.features}: channel attention divides it by the reduction "
                            f"{self.reduction}, so it must be >= {self.reduction}")
        if not self.lr > 0:
            problems.append(f"--lr {self.lr}: must be > 0")
        if self.sampling not in SAMPLINGS:
            problems.append(f"--sampling {self.sampling!r}: one of {', '.join(SAMPLINGS)}")
        if self.profile_steps < 0:
            problems.append(f"--profile {self.profile_steps}: must be >= 0")
        if problems:
            raise TrainingError("; ".join(problems))


@dataclass
class TrainResult:
    config: dict
    world_size: int
    device: str
    backend: str
    precision: str
    start_step: int                   # 0, or the step a resumed run started from
    step: int                         # steps done in total
    losses: list[float]               # global mean L1 loss of each step of this run
    step_times: list[float]           # rank-0 host seconds per step, H2D copy excluded
    throughput: dict = field(default_factory=dict)
    psnr: float | None = None
    psnr_per_image: dict = field(default_factory=dict)
    ssim: float | None = None
    protocol: str | None = None        # the eval protocol of psnr/ssim (srharness.protocols)
    checkpoint: str | None = None
    conditions: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> "TrainResult":
        return cls(**json.loads(Path(path).read_text()))


def build_training_model(config: TrainConfig) -> nn.Module:
    from srharness.models.rcan_training import RCANTraining

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return RCANTraining(scale=config.scale, num_features=config.features, num_rg=config.groups,
                            num_rcab=config.blocks, reduction=config.reduction)


def precision_of(config: TrainConfig, device: torch.device) -> str:
    if not config.amp:
        return "fp32"
    return "amp-bf16" if device.type == "cpu" else "amp-fp16"


# ---------------------------------------------------------------- checkpoints
def atomic_torch_save(obj, path: Path) -> None:
    """Write to a temporary file in the same folder, then rename: never a half-written checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())


def rng_state() -> dict:
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), *rest))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_checkpoint(path: str | Path) -> dict:
    """A training checkpoint, checked; CheckpointError names the file and the fix."""
    path = Path(path)
    if not path.is_file():
        raise TrainingCheckpointError(f"{path}: no such checkpoint; pass a checkpoint_step*.pt written by a "
                              "previous run, or start without --resume")
    from srharness import checkpoints
    try:
        checkpoints.check_bounded(path)   # declared sizes fit the file, no compressed entries
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError... for a bad file
        reason = str(exc) if isinstance(exc, checkpoints.CheckpointError) else checkpoints.load_error_reason(exc)
        raise TrainingCheckpointError(
            f"{path}: not a readable checkpoint ({reason}); "
            "it is truncated or corrupt: resume from an earlier checkpoint or start without --resume") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise TrainingCheckpointError(f"{path}: not an srharness RCAN training checkpoint (expected format "
                              f"{CHECKPOINT_FORMAT!r}); resume only from checkpoints written by `srharness train`")
    missing = [k for k in ("model", "optimizer", "scaler", "step", "rng", "config", "dataset_tiles") if k not in ckpt]
    if missing:
        raise TrainingCheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}; it is damaged, "
                              "resume from another checkpoint")
    return ckpt


def check_resumable(ckpt: dict, path: str, config: TrainConfig, world_size: int, tiles: int) -> None:
    saved = ckpt["config"]
    diffs = [f"{k} {saved.get(k)} -> {getattr(config, k)}" for k in (*ARCHITECTURE_KEYS, "patch", "seed")
             if saved.get(k) != getattr(config, k)]
    if saved.get("global_batch") != config.batch * world_size:
        diffs.append(f"global batch {saved.get('global_batch')} -> {config.batch * world_size}")
    if ckpt["dataset_tiles"] != tiles:
        diffs.append(f"training tiles {ckpt['dataset_tiles']} -> {tiles} (a different data folder)")
    if diffs:
        raise TrainingCheckpointError(f"{path}: cannot continue this run exactly, the settings differ: {'; '.join(diffs)}; "
                              "resume with the settings it was written with, or start a new run")


# ---------------------------------------------------------------- sampling
def epoch_batches(tiles: int, epoch: int, ctx: distributed.DistContext, batch: int, seed: int) -> list[list[int]]:
    """This process's batches for `epoch`: DistributedSampler order, full batches only. Across N
    processes, step k covers exactly the samples of step k of one process with N times the batch."""
    from torch.utils.data.distributed import DistributedSampler

    sampler = DistributedSampler(range(tiles), num_replicas=ctx.world_size, rank=ctx.rank,
                                 shuffle=True, seed=seed, drop_last=True)
    sampler.set_epoch(epoch)
    indices = list(sampler)
    return [indices[i:i + batch] for i in range(0, len(indices) - batch + 1, batch)]


class StepBatches:
    """This process's batches of the steps [start, end) as lists of (key, tile index), for ONE
    DataLoader over the whole run (its workers live across epochs instead of being re-forked
    every epoch: with Set5's 43 tiles an epoch is 2 steps at batch 16).

    epoch: the guide's DistributedSampler order (epoch_batches), key = epoch.
    replacement: `batch` tiles drawn with replacement from a generator keyed on (seed, step, rank),
    key = step: any batch runs on any dataset, the same steps on resume."""

    def __init__(self, sampling: str, tiles: int, ctx: distributed.DistContext, batch: int, seed: int,
                 start: int, end: int):
        self.sampling, self.tiles, self.ctx, self.batch, self.seed = sampling, tiles, ctx, batch, seed
        self.start, self.end = start, end

    def __len__(self) -> int:
        return self.end - self.start

    def __iter__(self):
        step = self.start
        if self.sampling == "replacement":
            for step in range(self.start, self.end):
                rng = np.random.default_rng([self.seed, step, self.ctx.rank])
                yield [(step, int(i)) for i in rng.integers(0, self.tiles, self.batch)]
            return
        per_epoch = len(epoch_batches(self.tiles, 0, self.ctx, self.batch, self.seed))
        while step < self.end:
            epoch, first = divmod(step, per_epoch)
            for b in epoch_batches(self.tiles, epoch, self.ctx, self.batch, self.seed)[first:]:
                if step >= self.end:
                    return
                yield [(epoch, i) for i in b]
                step += 1


def synthetic_batches(config: "TrainConfig", device: torch.device, steps: int):
    """One random LR/HR batch on the device, repeated: the model and optimiser alone, no data pipeline."""
    g = torch.Generator(device="cpu").manual_seed(config.seed)
    tile = config.patch * config.scale
    lr = torch.rand(config.batch, 3, config.patch, config.patch, generator=g).to(device)
    hr = torch.rand(config.batch, 3, tile, tile, generator=g).to(device)
    for _ in range(steps):
        yield lr, hr


# ---------------------------------------------------------------- the run
def train_worker(ctx: distributed.DistContext, config: TrainConfig,
                 on_step: Callable[[int, int, float, float], None] | None = None) -> TrainResult | None:
    """The training loop of one process. Rank 0 writes checkpoints, the log and result.json."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    out = Path(config.out_dir)
    device = ctx.device
    dataset = TileDataset(training_dataset(config.data_dir), patch=config.patch, scale=config.scale, seed=config.seed)
    global_batch = config.batch * ctx.world_size
    steps_per_epoch = len(epoch_batches(len(dataset), 0, ctx, config.batch, config.seed))
    if steps_per_epoch == 0 and config.sampling == "epoch":
        raise TrainingDataError(f"{config.data_dir or 'embedded images'}: {len(dataset)} training tiles of "
                                f"{dataset.tile}x{dataset.tile}, fewer than one global batch of {global_batch}; "
                                "add images, lower --batch, or sample with replacement (--sampling replacement)")
    steps_per_epoch = max(steps_per_epoch, 1)
    if config.cudnn_benchmark and device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    model = build_training_model(config).to(device)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    # RCANTraining has no buffers, so the guide's broadcast_buffers=False changes nothing; left at default.
    ddp = DDP(model, device_ids=[device.index] if device.type != "cpu" else None)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=config.lr,
                                 **({"fused": True} if config.fused_adam and device.type == "cuda" else {}))
    fp16 = config.amp and device.type != "cpu"
    scaler = torch.amp.GradScaler(device.type, enabled=fp16)
    amp_dtype = torch.float16 if fp16 else torch.bfloat16
    loss_fn = nn.L1Loss()

    step = 0
    if config.resume:
        ckpt = load_checkpoint(config.resume)
        check_resumable(ckpt, config.resume, config, ctx.world_size, len(dataset))
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"])
        step = int(ckpt["step"])
    start_step = step

    def save(step: int) -> Path:
        path = out / f"checkpoint_step{step:06d}.pt"
        atomic_torch_save({
            "format": CHECKPOINT_FORMAT, "step": step, "epoch": step // steps_per_epoch,
            "batch_in_epoch": step % steps_per_epoch, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(), "rng": rng_state(),
            "config": {**asdict(config), "global_batch": global_batch}, "dataset_tiles": len(dataset),
        }, path)
        return path

    log = open(out / LOG_FILE, "a") if ctx.is_main else None
    losses, step_times, checkpoint = [], [], None
    pending: list[torch.Tensor] = []   # step_sync off: per-step losses still on the device
    window = None                      # step_sync off: (step, host time) after the warm-up steps
    profiler = None
    profiled: dict | None = None       # profile_summary of the profiled steps

    def flush_losses() -> None:        # a collective: every rank calls it at the same steps
        if pending:
            losses.extend(float(v) for v in ctx.all_reduce_mean(torch.stack(pending)).cpu())
            pending.clear()

    ddp.train()
    try:
        if config.sampling == "synthetic":
            batches = synthetic_batches(config, device, config.steps - step)
        else:
            # One loader for the whole run: its workers are forked once, not every epoch.
            batches = torch.utils.data.DataLoader(
                dataset, batch_sampler=StepBatches(config.sampling, len(dataset), ctx, config.batch, config.seed,
                                                   step, config.steps),
                num_workers=config.workers, pin_memory=device.type == "cuda")
        for lr_patch, hr_tile in batches:
            lr_patch = lr_patch.to(device, non_blocking=True).contiguous(memory_format=memory_format)
            hr_tile = hr_tile.to(device, non_blocking=True).contiguous(memory_format=memory_format)
            if config.step_sync:
                distributed.synchronize(device)
            started = time.perf_counter()       # the guide times from after the H2D copy...
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=config.amp):
                loss = loss_fn(ddp(lr_patch), hr_tile)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if config.step_sync:
                distributed.synchronize(device)
            elapsed = time.perf_counter() - started   # ...through the optimiser step
            step += 1
            step_times.append(elapsed)
            if config.step_sync:
                losses.append(float(ctx.all_reduce_mean(loss.float())))
            else:
                pending.append(loss.detach().float())
            if profiler is not None:
                profiler.step()
            if step - start_step == config.warmup:
                if not config.step_sync:
                    distributed.synchronize(device)
                    window = (step, time.perf_counter())
                if config.profile_steps and ctx.is_main:
                    profiler = start_profiler(device)
            if profiler is not None and step - start_step == config.warmup + config.profile_steps:
                profiled = write_profile(profiler, out, device, config.profile_steps)
                profiler = None
            log_now = step % config.log_every == 0 or step == config.steps
            if log_now:
                flush_losses()
            if ctx.is_main:
                mean_loss = losses[-1] if losses else float("nan")
                if log_now:
                    fps = global_batch / elapsed
                    log.write(f"Iteration:{step}/{config.steps}->{100.0 * step / config.steps:.1f}% "
                              f"Time_avg_per_img:{elapsed / global_batch:.6f}->FPS:{fps:.3f} Loss:{mean_loss:.6f}\n")
                    log.flush()
                if on_step:
                    on_step(step, config.steps, mean_loss, elapsed)
                if config.checkpoint_every and step % config.checkpoint_every == 0 and step < config.steps:
                    save(step)
        flush_losses()
        if profiler is not None:
            profiled = write_profile(profiler, out, device, step - start_step - config.warmup)
        rate = None
        if window is not None and step > window[0]:
            distributed.synchronize(device)
            rate = (step - window[0]) * global_batch / (time.perf_counter() - window[1])
        if not ctx.is_main:
            return None
        checkpoint = save(step)
        result = TrainResult(
            config=asdict(config), world_size=ctx.world_size, device=str(device), backend=ctx.backend,
            precision=precision_of(config, device), start_step=start_step, step=step,
            losses=losses, step_times=step_times, checkpoint=str(checkpoint),
            throughput=throughput(step_times, global_batch, config.warmup) if rate is None else {
                "images_per_s": rate, "timed_steps": step - window[0], "warmup_steps": config.warmup,
                "global_batch": global_batch,
                "timing": "wall time over the steps after warm-up, one device sync at each end (step_sync off)"},
            conditions={
                "model": f"rcan-training {config.groups}x{config.blocks}x{config.features} x{config.scale}",
                "processes": ctx.world_size, "batch_per_process": config.batch, "global_batch": global_batch,
                "lr_patch": config.patch, "hr_tile": dataset.tile, "training_tiles": len(dataset),
                "training_images": dataset.images, "data": dataset.source,
                "torch": torch.__version__, "threads": torch.get_num_threads(), "backend": ctx.backend,
                "device_name": device_name(device), "warmup_steps": config.warmup,
                "timing": "host time from after the H2D copy through optimizer.step, device synchronised"
                          if config.step_sync else "wall time of the steps after warm-up, synchronised at each end",
                "sampling": config.sampling, "channels_last": config.channels_last,
                # as applied: both are CUDA-only
                "cudnn_benchmark": config.cudnn_benchmark and device.type == "cuda",
                "fused_adam": config.fused_adam and device.type == "cuda",
                "dataloader_workers": config.workers, "cuda_version": torch.version.cuda,
                "profile": str(out / PROFILE_FILE) if config.profile_steps else None,
                "profile_summary": profiled,
            })
        if config.eval_dir:
            from .evaluation import evaluate
            ev = evaluate(model, config.eval_dir, config.scale, device)
            result.psnr, result.ssim = ev.mean_psnr, ev.mean_ssim
            result.psnr_per_image = {s.name: s.psnr for s in ev.images}
            result.protocol = ev.protocol
            log.write(f"The Best PSNR is {ev.mean_psnr:.4f}\n")
        atomic_write_text(out / RESULT_FILE, json.dumps(asdict(result), indent=1))
        return result
    finally:
        if log:
            log.close()


PROFILE_FILE = "profile.txt"
PROFILE_TRACE = "profile_trace.json"


def start_profiler(device: torch.device):
    """torch.profiler over the next steps: what bounds a step (host launch, kernels, copies, syncs)."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    prof = profile(activities=activities)
    prof.__enter__()
    return prof


HOST_SYNC_OPS = ("cudaDeviceSynchronize", "cudaStreamSynchronize", "cudaEventSynchronize", "aten::_local_scalar_dense")
LAUNCH_OPS = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernelEx")


def profile_summary(events, steps: int) -> dict:
    """Per step: host time in ops, device kernel time, kernel launches, host syncs, and which bounds
    the step (the host cannot keep the device busy when it spends longer launching than the device runs)."""
    def device_us(e):
        return getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0) or 0
    steps = max(steps, 1)
    host_ms = sum(e.self_cpu_time_total for e in events) / 1000.0 / steps
    device_ms = sum(device_us(e) for e in events) / 1000.0 / steps
    top = sorted(events, key=device_us, reverse=True)[:5]
    return {"steps": steps, "host_ms_per_step": host_ms, "device_ms_per_step": device_ms,
            "kernel_launches_per_step": sum(e.count for e in events if e.key in LAUNCH_OPS) / steps,
            "host_syncs_per_step": sum(e.count for e in events if e.key in HOST_SYNC_OPS) / steps,
            "bound": ("no device time recorded (CPU run)" if device_ms == 0 else
                      "host (op launch) bound" if host_ms > device_ms else "device (kernel) bound"),
            "top_device_ops": [{"op": e.key, "ms_per_step": device_us(e) / 1000.0 / steps} for e in top if device_us(e)]}


def write_profile(prof, out: Path, device: torch.device, steps: int = 1) -> dict:
    prof.__exit__(None, None, None)
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = prof.key_averages()
    summary = profile_summary(events, steps)
    atomic_write_text(out / PROFILE_FILE, json.dumps(summary, indent=1) + "\n\n" + events.table(sort_by=sort, row_limit=40) + "\n")
    prof.export_chrome_trace(str(out / PROFILE_TRACE))
    return summary


def throughput(step_times: list[float], global_batch: int, warmup: int) -> dict:
    """Images per second as the guide measures it: global batch / mean step time after `warmup` steps."""
    timed = step_times[warmup:]
    if not timed:
        return {"images_per_s": None, "timed_steps": 0, "warmup_steps": warmup, "global_batch": global_batch,
                "note": f"no step after the {warmup} warm-up steps; run more --steps"}
    mean = float(np.mean(timed))
    return {"images_per_s": global_batch / mean, "mean_step_s": mean, "timed_steps": len(timed),
            "warmup_steps": warmup, "global_batch": global_batch}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "npu":
        return torch.npu.get_device_name(device)
    import platform
    return platform.processor() or platform.machine()


def _process_entry(rank: int, world_size: int, port: int, config: TrainConfig, progress: bool) -> None:
    """torch.multiprocessing.spawn target: one training process."""
    _worker(config, progress, rank=rank, world_size=world_size, port=port)


def _worker(config: TrainConfig, progress: bool, **rendezvous) -> TrainResult | None:
    ctx = distributed.init(config.device, **rendezvous)
    try:
        if ctx.device.type == "cpu" and config.threads is None and ctx.world_size > 1:
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // ctx.world_size))
        elif config.threads:
            torch.set_num_threads(config.threads)
        bar = progress_bar(config) if progress and ctx.is_main else None
        try:
            return train_worker(ctx, config, on_step=bar.update_step if bar else None)
        finally:
            if bar:
                bar.close()
    finally:
        distributed.shutdown()


class progress_bar:
    """tqdm over steps showing the loss and the instantaneous images/s."""

    def __init__(self, config: TrainConfig):
        self.total = config.steps
        self.bar = None                    # created at the first step, so set-up errors print cleanly

    def update_step(self, step: int, total: int, loss: float, elapsed: float) -> None:
        if self.bar is None:
            from tqdm import tqdm
            self.bar = tqdm(total=self.total, initial=step - 1, desc="train", unit="step", file=sys.stderr,
                            dynamic_ncols=True)
        self.bar.set_postfix(loss=f"{loss:.4f}", step_s=f"{elapsed:.3f}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_training(config: TrainConfig, nproc: int = 1, progress: bool = False) -> TrainResult | None:
    """Train with `nproc` processes (or as one torchrun process) and return rank 0's result
    (None on other torchrun ranks)."""
    if nproc < 1:
        raise TrainingError(f"--nproc {nproc}: need at least 1 process")
    config.validate()
    training_dataset(config.data_dir)          # fail on a missing or empty folder before spawning
    if config.eval_dir:
        from srharness.data.datasets import folder_dataset
        folder_dataset(config.eval_dir, name="eval")    # ...not after the training
    if config.resume:
        load_checkpoint(config.resume)         # ... and on an unreadable checkpoint
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if distributed.in_torchrun():
        return _worker(config, progress)
    port = distributed.free_port()
    if nproc == 1:
        return _worker(config, progress, rank=0, world_size=1, port=port)
    import torch.multiprocessing as mp

    (out / RESULT_FILE).unlink(missing_ok=True)
    try:
        mp.spawn(_process_entry, args=(nproc, port, config, progress), nprocs=nproc, join=True)
    except mp.ProcessRaisedException as exc:
        last = [line for line in str(exc).strip().splitlines() if line.strip()][-1]
        raise TrainingError(f"a training process failed: {last}") from None
    except mp.ProcessExitedException as exc:
        raise TrainingError(f"a training process died: {exc}") from None
    return TrainResult.load(out / RESULT_FILE)
