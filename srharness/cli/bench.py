"""srharness bench MODEL --backend NAME: time one model on one backend and print latency
percentiles, throughput and the coefficient of variation."""
from __future__ import annotations

import json
import sys

from srharness.cli import args as types


def arguments(p):
    p.add_argument("model", nargs="?", help="registry name: srcnn, vdsr, rdn, rcan, rcan-sr4k, rcan-sr4k-lite ...")
    p.add_argument("--backend", default="ort", help="torch | ort | ort-fp16 | ort-int8 (default ort); GPU: torch-cuda, "
                   "torch-cuda-fp16, torch-cuda-bf16, ort-cuda, ort-trt, tensorrt (srharness.cli.bench_gpu)")
    p.add_argument("--shape", type=types.shape, default=None, metavar="HxW",
                   help="input H x W (default: the guide's shape)")
    p.add_argument("--scale", type=types.scale, default=None)
    p.add_argument("--weights", default=None, metavar="PATH",
                   help="with no MODEL: a checkpoint whose architecture is detected (srharness[zoo] extra); "
                        "timing uses its weights")
    p.add_argument("--batch", type=types.int_range(1, 1024), default=1)
    p.add_argument("--warmup", type=types.int_range(0, 100000), default=2, metavar="N",
                   help="warm-up calls, at least (default 2)")
    p.add_argument("--warmup-seconds", type=types.seconds, default=0.0, metavar="T", help="warm-up time, at least")
    p.add_argument("--iterations", type=types.int_range(1, 10_000_000), default=10, metavar="N",
                   help="timed calls, at least (default 10)")
    p.add_argument("--min-seconds", type=types.seconds, default=1.0, metavar="T",
                   help="timed seconds, at least (default 1)")
    p.add_argument("--threads", type=types.int_range(1, 1024), default=None,
                   help="intra-op threads (default: the backend's)")
    p.add_argument("--unstable-cv", type=types.fraction, default=None, help="flag the run unstable above this CV")
    p.add_argument("--workdir", default=None, help="where the ONNX file is written (default: a temp dir)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--fail-unstable", action="store_true",
                   help="exit 1 when the run is unstable (CV above --unstable-cv): a figure not to be trusted")
    from srharness.cli.bench_gpu import add_gpu_arguments
    add_gpu_arguments(p)


def run(args) -> int:
    import tempfile
    from pathlib import Path

    from srharness.cli import CliError, model_from_weights
    from srharness.models import MODELS
    from srharness.perf import DEFAULT_UNSTABLE_CV, PerfConfig, device_lock, measure
    from srharness.perf_targets import CPU_BACKENDS, build_target

    if args.model and args.weights:
        raise CliError("--weights: bench times a named model's random init (timing does not depend on the "
                       "weights); --weights is for a checkpoint with no MODEL, whose architecture is detected")
    model_from_weights(args)   # no MODEL: --weights' architecture is detected (srharness.zoo)
    if args.model not in MODELS:
        raise CliError(f"unknown model {args.model!r}; known: {', '.join(MODELS)}")
    from srharness.backends import timed_backends
    gpu_backends = timed_backends()     # the backends with a GPU timing pipeline (srharness.backends)
    if args.backend in gpu_backends or args.variants:
        from srharness.cli.bench_gpu import run_gpu
        return run_gpu(args)
    if args.batch_sweep:   # never silently ignored
        raise CliError(f"--batch-sweep: sweeps are timed on the GPU backends ({', '.join(gpu_backends)}); "
                       f"for {args.backend} give one --batch")
    if args.backend not in CPU_BACKENDS:
        raise CliError(f"--backend {args.backend!r}: this command times the CPU backends {', '.join(CPU_BACKENDS)}; "
                       "card backends are timed by their suites (pytest -m ascend/vacc/cuda)")
    shape = args.shape
    try:
        config = PerfConfig(warmup_iterations=args.warmup, warmup_seconds=args.warmup_seconds,
                            min_iterations=args.iterations, min_seconds=args.min_seconds, batch=args.batch,
                            unstable_cv=DEFAULT_UNSTABLE_CV if args.unstable_cv is None else args.unstable_cv)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    from srharness import progress
    if args.json:
        progress.quiet()
    with tempfile.TemporaryDirectory(prefix="srharness-bench-") as tmp:
        try:
            with progress.status(f"building {args.model} {args.backend} (export, quantise)"):
                target = build_target(args.model, args.backend, shape=shape, batch=args.batch, scale=args.scale,
                                      workdir=Path(args.workdir or tmp), threads=args.threads)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        with device_lock("cpu"), progress.status(f"timing {args.model} {args.backend}: at least "
                                                 f"{args.iterations} calls and {args.min_seconds:g} s"):
            result = measure(target.call, config, conditions=target.conditions)
    summary = result.summary()
    failed = bool(args.fail_unstable and summary["unstable"])
    if args.json:
        print(json.dumps({**summary, "exit_code": int(failed)}, indent=2))
        return int(failed)
    lat = summary["latency_ms"]
    print(f"{args.model} {args.backend} {target.precision} input {list(target.input_shape)}: "
          f"{summary['iterations']} iterations in {summary['seconds']:.2f} s")
    print("latency ms: " + ", ".join(f"{k} {v:.3f}" for k, v in lat.items()))
    print(f"throughput {summary['throughput']:.3f} samples/s, CV {summary['cv']:.3f}"
          + ("  UNSTABLE" if summary["unstable"] else ""))
    if failed:
        print(f"bench: FAILED: CV {summary['cv']:.3f} above {summary['unstable_cv_threshold']:g} (--fail-unstable); "
              "rerun on a quiet machine or with more --iterations / --min-seconds", file=sys.stderr)
    return int(failed)
