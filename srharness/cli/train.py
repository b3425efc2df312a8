"""srharness train: train the yjn870-layout RCAN as the Ascend training guide does (PROTOCOLS.md B)."""
from __future__ import annotations

import json

from srharness.cli import args as types


def arguments(p):
    p.add_argument("--data-dir", help="folder of HR training images (default: scikit-image's embedded photos)")
    p.add_argument("--eval-dir", help="folder of HR images for the guide's PSNR at the end (e.g. Set5 HR)")
    p.add_argument("--scale", type=types.scale, default=2)
    p.add_argument("--groups", type=types.int_range(1, 100), default=10, help="residual groups (guide: 10)")
    p.add_argument("--blocks", type=types.int_range(1, 200), default=20, help="RCAB per group (guide: 20)")
    p.add_argument("--features", type=types.int_range(1, 1024), default=64, help="feature channels (guide: 64)")
    p.add_argument("--patch", type=types.int_range(4, 1024), default=48, help="LR patch size; HR tiles are patch x scale")
    p.add_argument("--batch", type=types.int_range(1, 4096), default=16,
                   help="batch per process; global batch = batch x nproc")
    p.add_argument("--lr", type=types.positive_float, default=1e-4, help="Adam learning rate, constant")
    p.add_argument("--steps", type=types.int_range(1, 10 ** 8), default=100,
                   help="optimiser steps in total (a resumed run counts on)")
    p.add_argument("--seed", type=types.int_range(0, 2 ** 32 - 1), default=0)
    p.add_argument("--nproc", type=types.int_range(1, 256), default=1, help="processes (torch.multiprocessing spawn); "
                   "under torchrun each process runs this command and --nproc is ignored")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "npu"))
    p.add_argument("--amp", action="store_true", help="mixed precision: fp16 + GradScaler on cuda/npu, bf16 on cpu")
    p.add_argument("--workers", type=types.int_range(0, 256), default=0, help="DataLoader workers per process")
    p.add_argument("--threads", type=types.int_range(1, 1024), help="torch threads per process (default: cores / processes)")
    p.add_argument("--checkpoint-every", type=types.non_negative_int, default=0,
                   help="steps between checkpoints (0: at the end only)")
    p.add_argument("--resume", metavar="CKPT", help="continue exactly from a checkpoint_step*.pt of an earlier run")
    p.add_argument("--out", default="rcan-training-run", help="folder for checkpoints, train.log, result.json")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of the text report")
    perf = p.add_argument_group("throughput (the benchmark: `srharness train --perf --device cuda --amp --batch 160 "
                                "--steps 60` prints images/s)")
    perf.add_argument("--perf", action="store_true", help="all of: --sampling replacement --channels-last "
                      "--cudnn-benchmark --no-step-sync --fused-adam")
    perf.add_argument("--sampling", choices=("epoch", "replacement", "synthetic"), default=None,
                      help="epoch: the guide's sampler (default); replacement: random tiles, so any batch runs on "
                      "any dataset; synthetic: one random batch on the device (no data pipeline)")
    perf.add_argument("--channels-last", action="store_true", help="NHWC activations")
    perf.add_argument("--cudnn-benchmark", action="store_true", help="torch.backends.cudnn.benchmark = True")
    perf.add_argument("--no-step-sync", action="store_true", help="no device sync or loss read per step; "
                      "images/s from the wall time after warm-up")
    perf.add_argument("--fused-adam", action="store_true", help="Adam(fused=True) on CUDA (GradScaler without "
                      "a host sync per step)")
    perf.add_argument("--profile", type=types.non_negative_int, default=0, metavar="STEPS",
                      help="torch.profiler over STEPS steps after warm-up: <out>/profile.txt and profile_trace.json")


def run(args) -> int:
    from srharness.cli import CliError, model_spec
    from srharness.data.datasets import DatasetError
    from srharness.training import TrainConfig, TrainingError, run_training

    model_spec("rcan-training", args.scale)   # train --scale 5 would train a model export and eval refuse

    config = TrainConfig(
        out_dir=args.out, data_dir=args.data_dir, eval_dir=args.eval_dir, scale=args.scale, groups=args.groups,
        blocks=args.blocks, features=args.features, patch=args.patch, batch=args.batch, lr=args.lr,
        steps=args.steps, seed=args.seed, amp=args.amp, device=args.device, workers=args.workers,
        checkpoint_every=args.checkpoint_every, resume=args.resume, threads=args.threads,
        sampling=args.sampling or ("replacement" if args.perf else "epoch"),
        channels_last=args.channels_last or args.perf, cudnn_benchmark=args.cudnn_benchmark or args.perf,
        step_sync=not (args.no_step_sync or args.perf), fused_adam=args.fused_adam or args.perf,
        profile_steps=args.profile)
    try:
        result = run_training(config, nproc=args.nproc, progress=not args.json)
    except (TrainingError, DatasetError) as exc:   # TrainingDataError is a DatasetError
        raise CliError(str(exc)) from None
    if result is None:            # a torchrun rank other than 0
        return 0
    if args.json:
        from dataclasses import asdict
        print(json.dumps(asdict(result), indent=1))
        return 0
    print(format_report(result))
    return 0


def format_report(result) -> str:
    c, t = result.conditions, result.throughput
    losses = result.losses
    lines = [
        f"RCAN training: {c['model']}, {result.world_size} process(es) on {result.device} ({result.backend}), "
        f"{result.precision}",
        f"  data        {c['data']}: {c['training_images']} images, {c['training_tiles']} tiles of "
        f"{c['hr_tile']}x{c['hr_tile']}, LR patch {c['lr_patch']}",
        f"  steps       {result.start_step} -> {result.step}, global batch {c['global_batch']} "
        f"({c['batch_per_process']} per process)",
        f"  L1 loss     {losses[0]:.6f} (first step) -> {losses[-1]:.6f} (last step)",
    ]
    if len(losses) >= 20:
        lines.append(f"              mean of first 10 {sum(losses[:10]) / 10:.6f} -> last 10 {sum(losses[-10:]) / 10:.6f}")
    if t.get("images_per_s"):
        lines.append(f"  throughput  {t['images_per_s']:.2f} images/s (global batch {t['global_batch']}, "
                     f"{t['timed_steps']} steps after {t['warmup_steps']} warm-up; {c['timing']})")
        if c.get("sampling", "epoch") != "epoch" or c.get("profile"):
            lines.append(f"  perf mode   sampling {c.get('sampling')}, channels_last {c.get('channels_last')}, cudnn "
                         f"benchmark {c.get('cudnn_benchmark')}, fused Adam {c.get('fused_adam')}, workers "
                         f"{c.get('dataloader_workers')}" + (f"; profile {c['profile']}" if c.get("profile") else ""))
        prof = c.get("profile_summary")
        if prof:
            lines.append(f"  profile     per step: host {prof['host_ms_per_step']:.1f} ms in ops, device "
                         f"{prof['device_ms_per_step']:.1f} ms in kernels, {prof['kernel_launches_per_step']:.0f} "
                         f"launches, {prof['host_syncs_per_step']:.1f} host syncs: {prof['bound']}")
    else:
        lines.append(f"  throughput  not measured: {t.get('note')}")
    if result.psnr is not None:
        lines.append(f"  PSNR        {result.psnr:.4f} dB, SSIM {result.ssim:.4f} (protocol {result.protocol}: Y, "
                     "shave scale+6, truncation) " + ", ".join(f"{k} {v:.2f}" for k, v in result.psnr_per_image.items()))
    lines.append(f"  checkpoint  {result.checkpoint}")
    return "\n".join(lines)
