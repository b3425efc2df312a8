"""srharness bench MODEL --backend NAME: time one model on one backend and print latency
percentiles, throughput and the coefficient of variation."""
from __future__ import annotations

import json


def add_parser(sub):
    p = sub.add_parser("bench", help="time a model on a backend (latency percentiles, throughput, CV)",
                       description=__doc__.replace("\n", " "))
    p.add_argument("model", help="registry name: srcnn, vdsr, rdn, rcan, rcan-sr4k, rcan-sr4k-lite ...")
    p.add_argument("--backend", default="ort", help="torch | ort | ort-fp16 | ort-int8 (default ort)")
    p.add_argument("--shape", default=None, metavar="HxW", help="input H x W (default: the guide's shape)")
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--warmup", type=int, default=2, metavar="N", help="warm-up calls, at least (default 2)")
    p.add_argument("--warmup-seconds", type=float, default=0.0, metavar="T", help="warm-up time, at least")
    p.add_argument("--iterations", type=int, default=10, metavar="N", help="timed calls, at least (default 10)")
    p.add_argument("--min-seconds", type=float, default=1.0, metavar="T", help="timed seconds, at least (default 1)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: the backend's)")
    p.add_argument("--unstable-cv", type=float, default=None, help="flag the run unstable above this CV")
    p.add_argument("--workdir", default=None, help="where the ONNX file is written (default: a temp dir)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def parse_shape(text: str) -> tuple[int, int]:
    from srharness.cli import CliError
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CliError(f"--shape {text!r}: expected HxW, e.g. 256x256") from None
    if h < 1 or w < 1:
        raise CliError(f"--shape {text!r}: H and W must be positive")
    return h, w


def run(args) -> int:
    import tempfile
    from pathlib import Path

    from srharness.cli import CliError
    from srharness.models import MODELS
    from srharness.perf import DEFAULT_UNSTABLE_CV, PerfConfig, device_lock, measure
    from srharness.perf_targets import CPU_BACKENDS, build_target

    if args.model not in MODELS:
        raise CliError(f"unknown model {args.model!r}; known: {', '.join(MODELS)}")
    if args.backend not in CPU_BACKENDS:
        raise CliError(f"--backend {args.backend!r}: this command times the CPU backends {', '.join(CPU_BACKENDS)}; "
                       "card backends are timed by their suites (pytest -m ascend/vacc/cuda)")
    shape = parse_shape(args.shape) if args.shape else None
    try:
        config = PerfConfig(warmup_iterations=args.warmup, warmup_seconds=args.warmup_seconds,
                            min_iterations=args.iterations, min_seconds=args.min_seconds, batch=args.batch,
                            unstable_cv=DEFAULT_UNSTABLE_CV if args.unstable_cv is None else args.unstable_cv)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    with tempfile.TemporaryDirectory(prefix="srharness-bench-") as tmp:
        try:
            target = build_target(args.model, args.backend, shape=shape, batch=args.batch, scale=args.scale,
                                  workdir=Path(args.workdir or tmp), threads=args.threads)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        with device_lock("cpu"):
            result = measure(target.call, config, conditions=target.conditions)
    summary = result.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    lat = summary["latency_ms"]
    print(f"{args.model} {args.backend} {target.precision} input {list(target.input_shape)}: "
          f"{summary['iterations']} iterations in {summary['seconds']:.2f} s")
    print("latency ms: " + ", ".join(f"{k} {v:.3f}" for k, v in lat.items()))
    print(f"throughput {summary['throughput']:.3f} samples/s, CV {summary['cv']:.3f}"
          + ("  UNSTABLE" if summary["unstable"] else ""))
    return 0
