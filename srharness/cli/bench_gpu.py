"""`srharness bench MODEL --backend torch-cuda|torch-cuda-fp16|torch-cuda-bf16|ort-cuda|ort-trt|tensorrt`:
the GPU figures of srharness.perf_gpu (fps_gpu_compute, fps_host_e2e, the H2D/compute/D2H split,
TEST01/TEST04 and non-finite checks, NVML state), one per batch of the sweep.

    srharness bench rcan-sr4k --backend torch-cuda --precision fp16 --channels-last --cuda-graphs --uint8-io --pinned
    srharness bench srcnn --backend torch-cuda-fp16 --batch-sweep 1,8,32 --compare-independent --json

Exit status 1 when a figure's correctness check failed (the figure is printed, marked INVALID);
2 when the GPU path cannot run here (the message names what was looked for).
`--device cpu` runs the same pipelines on the CPU with host-clock events (the CPU twin the tests use).
"""
from __future__ import annotations

import json


def add_gpu_arguments(p) -> None:
    from srharness.runners.device import COMPILE_MODES, PRECISIONS
    g = p.add_argument_group("GPU backends (torch-cuda, torch-cuda-fp16, torch-cuda-bf16, ort-cuda, ort-trt, tensorrt)")
    g.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="fp32 | fp16 | bf16 for a bare GPU backend name (default fp32; tensorrt fp16)")
    g.add_argument("--autocast", action="store_true", help="torch-cuda: fp32 weights under torch.autocast "
                   "instead of casting the module (.half())")
    g.add_argument("--cuda-graphs", action="store_true", help="torch-cuda: replay a captured CUDA graph")
    g.add_argument("--channels-last", action="store_true", help="torch-cuda: NHWC memory format")
    g.add_argument("--compile", nargs="?", const="max-autotune-no-cudagraphs", default=None, choices=COMPILE_MODES,
                   metavar="MODE", help="torch-cuda: torch.compile (default mode max-autotune-no-cudagraphs; "
                   f"one of {', '.join(COMPILE_MODES)})")
    g.add_argument("--uint8-io", action="store_true", help="uint8 input and output (vamp's dtype u1), "
                   "converted on the GPU")
    g.add_argument("--pinned", action="store_true", help="page-locked host buffers for the copies")
    g.add_argument("--tf32", action="store_true", help="allow TF32 for fp32 convolutions (default: true fp32)")
    g.add_argument("--batch-sweep", default=None, type=batch_sweep, metavar="N,N,...",
                   help="time each batch in turn (overrides --batch; GPU backends)")
    g.add_argument("--compare-independent", action="store_true",
                   help="also time a plain CUDA-event loop over the same module; fail beyond 10%% apart")
    g.add_argument("--variants", default=None, metavar="NAME,...|all",
                   help="time these named variants (srharness.backends.timing_variants: backends with their options; "
                   "overrides --backend and the option flags) and print a markdown table with the H2D/compute/D2H split")
    g.add_argument("--no-e2e", action="store_true", help="skip the host end-to-end loop")
    g.add_argument("--no-caching-check", action="store_true", help="skip TEST04 (repeated vs distinct inputs)")
    g.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                   help="cpu: the CPU twin of the same pipeline (host-clock events), for testing")


def batch_sweep(text: str) -> list[int]:
    """--batch-sweep 1,8,32: a usage error (exit 2, naming the value) for anything else."""
    import argparse
    try:
        batches = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: comma-separated whole numbers, e.g. 1,4,16") from None
    if not batches or any(b < 1 or b > 1024 for b in batches):
        raise argparse.ArgumentTypeError(f"{text!r}: each batch must be 1..1024, e.g. 1,4,16")
    return batches


def _batches(args) -> list[int]:
    return list(args.batch_sweep) if args.batch_sweep else [args.batch]


def run_gpu(args) -> int:
    import tempfile
    from pathlib import Path

    from srharness.cli import CliError
    from srharness.perf import DEFAULT_UNSTABLE_CV, device_lock
    from srharness.backends import get_backend, gpu_options, timing_variants
    from srharness.deploy import deploy
    from srharness.perf_gpu import GpuPerfConfig, measure_pipeline
    from srharness.runners.device import GpuUnavailable

    batches = _batches(args)
    try:
        if args.variants:
            known = timing_variants()
            names = list(known) if args.variants == "all" else [v.strip() for v in args.variants.split(",") if v.strip()]
            unknown = [n for n in names if n not in known]
            if unknown:
                raise CliError(f"--variants: unknown {', '.join(unknown)}; known: {', '.join(known)}")
            # (variant, the backend its figures are recorded under, options)
            runs = [(n, get_backend(n).timing.family, gpu_options(n)) for n in names]
        else:
            flags = {"cast": "autocast" if args.autocast else None, "channels_last": args.channels_last,
                     "cuda_graphs": args.cuda_graphs, "compile": args.compile, "uint8_io": args.uint8_io,
                     "pinned": args.pinned, "tf32": args.tf32}
            options = gpu_options(args.backend, args.precision, **{k: v for k, v in flags.items() if v})
            runs = [(None, args.backend, options)]
    except ValueError as exc:
        raise CliError(str(exc)) from None
    figures, rows = [], []
    with tempfile.TemporaryDirectory(prefix="srharness-bench-gpu-") as tmp:
        for (variant, backend, options), batch in ((r, b) for r in runs for b in batches):
            try:
                config = GpuPerfConfig(warmup_iterations=args.warmup, warmup_seconds=max(args.warmup_seconds, 0.2),
                                       min_iterations=args.iterations, min_seconds=args.min_seconds, batch=batch,
                                       unstable_cv=DEFAULT_UNSTABLE_CV if args.unstable_cv is None else args.unstable_cv)
                pipe = deploy(args.model, args.scale, backend=variant or backend, timing=options, shape=args.shape,
                              batch=batch, workdir=Path(args.workdir or tmp), device=args.device, build=False).runner
                with device_lock(f"{args.device}:0" if args.device == "cuda" else "cpu"):
                    fig = measure_pipeline(pipe, config,
                                           host_e2e=not args.no_e2e, caching=not args.no_caching_check,
                                           independent=args.compare_independent,
                                           conditions={"model": args.model, "backend": backend, "scale": args.scale,
                                                       "variant": variant})
            except (GpuUnavailable, ValueError) as exc:
                if variant is None:
                    raise CliError(str(exc)) from None
                rows.append(f"| {args.model} | {variant} | - | skipped: {exc} |")    # e.g. no TensorRT here
                continue
            figures.append(fig)
            if variant is not None:
                rows.append(table_row(args.model, variant, fig))
            if not args.json:
                print(format_figures(args.model, backend, fig))
    if args.json:
        print(json.dumps([f.to_dict() for f in figures], indent=2, default=str))
    elif rows:
        print("\n" + TABLE_HEADER + "\n" + "\n".join(rows))
    if not figures:
        raise CliError("no variant could run here: " + "; ".join(rows))
    if not all(f.passed for f in figures):
        return 1
    if getattr(args, "fail_unstable", False) and any(f.compute.unstable or (f.e2e and f.e2e.unstable) for f in figures):
        return 1          # --fail-unstable: a figure above the CV threshold is not to be trusted
    return 0


TABLE_HEADER = ("| model | variant | input | fps_gpu_compute | independent loop (ratio) | fps_host_e2e | "
                "H2D / compute / D2H ms | CV | valid |\n|---|---|---|---|---|---|---|---|---|")


def table_row(model: str, variant: str, fig) -> str:
    ind = fig.checks.get("independent_loop")
    ind_text = f"{ind['fps_independent']:.1f} ({ind['ratio']:.3f})" if ind else "-"
    split = fig.split_ms()
    split_text = f"{split['h2d_ms']:.3f} / {split['compute_ms']:.3f} / {split['d2h_ms']:.3f}" if split else "-"
    e2e = f"{fig.fps_host_e2e:.1f}" if fig.fps_host_e2e else "-"
    return (f"| {model} | {variant} | {'x'.join(map(str, fig.conditions['input_shape']))} | {fig.fps_gpu_compute:.1f} | "
            f"{ind_text} | {e2e} | {split_text} | {fig.compute.cv:.3f} | {'yes' if fig.passed else 'NO'} |")


def format_figures(model: str, backend: str, fig) -> str:
    c = fig.compute
    lines = [f"{model} {backend} {fig.conditions['options']['tag']} input {fig.conditions['input_shape']} "
             f"({fig.conditions['timer']}){'' if fig.passed else '  INVALID: a correctness check failed'}",
             f"  fps_gpu_compute {fig.fps_gpu_compute:10.2f}   GPU compute ms: mean {c.mean_ms:.4f}  p50 {c.median_ms:.4f}  "
             f"p90 {c.p90_ms:.4f}  p95 {c.p95_ms:.4f}  p99 {c.p99_ms:.4f}  CV {c.cv:.3f}{'  UNSTABLE' if c.unstable else ''}"
             f"  ({c.iterations} iterations)"]
    if fig.fps_gpu_span:
        lines.append(f"  fps_gpu_span    {fig.fps_gpu_span:10.2f}   (back-to-back, first to last event)")
    if fig.e2e is not None:
        s = fig.split_ms()
        lines.append(f"  fps_host_e2e    {fig.fps_host_e2e:10.2f}   host ms: mean {fig.e2e.mean_ms:.4f}  p99 "
                     f"{fig.e2e.p99_ms:.4f}  CV {fig.e2e.cv:.3f}{'  UNSTABLE' if fig.e2e.unstable else ''}")
        lines.append(f"  split ms        H2D {s['h2d_ms']:.4f} + compute {s['compute_ms']:.4f} + D2H {s['d2h_ms']:.4f}"
                     f" + host {s['host_overhead_ms']:.4f} = {s['host_e2e_ms']:.4f}")
    for name, check in fig.checks.items():
        detail = {"test01": lambda k: f"worst {k.get('worst_db', float('nan')):.2f} dB vs floor {k['floor_db']:g} dB",
                  "test04": lambda k: f"repeated/distinct {k['speedup']:.3f} (limit {k['limit']:g})",
                  "nonfinite": lambda k: f"{k['nonfinite']} NaN/Inf in {k['checked_values']} values",
                  "independent_loop": lambda k: f"harness {k['fps_harness']:.2f} vs independent "
                                                f"{k['fps_independent']:.2f} fps, ratio {k['ratio']:.3f}"}
        text = detail[name](check) if name in detail else ""
        lines.append(f"  check {name:<16} {'pass' if check.get('passed') else 'FAIL'}  {text}")
    env = fig.conditions
    state = env.get("gpu_state_before") or env.get("gpu_state") or {}
    if state.get("nvml") == "ok":
        lines.append(f"  GPU {state['name']} driver {state['driver']}  SM {state['sm_clock_mhz']}/{state['sm_clock_max_mhz']}"
                     f" MHz  {state['power_w']} W  {state['temperature_c']} C  other processes: {env['other_pids'] or 'none'}")
    else:
        lines.append(f"  GPU state: {state.get('nvml', 'unknown')}")
    return "\n".join(lines)
