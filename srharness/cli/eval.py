"""srharness eval: PSNR/SSIM of a model on a dataset under a named protocol, per image and mean.

    srharness eval vdsr --scale 4 --dataset set5 --protocol benchmark --data-dir ../shared/data
    srharness eval vdsr --scale 4 --protocol vdsr-vacc --backend ort-int8-entropy
    srharness eval rdn --scale 2 --weights rdn_x2.pth --dataset folder --data-dir my_images/
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from srharness.cli import CliError, model_spec
from srharness.cli import args as types

# Backends come from the backend registry (srharness.backends): the CPU and GPU ones run here; card
# backends (ascend-om, vacc-*, tensorrt) run in their suites. fp16/bf16 outputs are checked for NaN/Inf.
EVAL_HARDWARE = ("cpu", "cuda")


def add_parser(sub):
    p = sub.add_parser("eval", help="PSNR/SSIM of a model on a dataset under a guide's protocol",
                       description=__doc__.splitlines()[0])
    p.add_argument("model", help="model name (srcnn, vdsr, rdn, rcan, rcan-sr4k, ...)")
    p.add_argument("--scale", type=types.scale, default=2)
    p.add_argument("--weights", help="checkpoint file ('auto': the shared data's official weights); "
                                     "default: random init (only meaningful for fidelity)")
    p.add_argument("--weights-dir", help="where --weights auto looks (default $SRHARNESS_WEIGHTS_DIR, else "
                                         "<$SRHARNESS_DATA_DIR or --data-dir>/weights)")
    p.add_argument("--dataset", default=None,
                   help="set5 | selfexsr | vdsr-mat | div2k | folder | embedded "
                        "(default: set5 with a data dir, embedded without)")
    p.add_argument("--data-dir", help="data folder (default $SRHARNESS_DATA_DIR); for --dataset folder, the image folder")
    p.add_argument("--protocol", help="evaluation protocol (default: the model's guide protocol)")
    p.add_argument("--bicubic-rounding", choices=("per-pass", "final", "none"),
                   help="benchmark protocols: how the MATLAB bicubic is rounded (see srharness.protocols)")
    p.add_argument("--backend", default=None,
                   help="a registered backend: torch, ort, ort-fp16, ort-int8-minmax, ort-int8-entropy, torch-cuda, "
                        "torch-cuda-fp16, torch-cuda-bf16, ort-cuda, ort-trt ... (default: torch; ort for an "
                        "ONNX-only model)")
    p.add_argument("--tile", type=types.int_range(0, types.MAX_SIDE), default=0,
                   help="run the model on overlapping input tiles of this size (bounded memory, e.g. RCAN at "
                        "1080x1920 on a CPU machine); 0 = whole image")
    p.add_argument("--images", type=types.name_list, help="comma-separated image names to evaluate (default: all)")
    p.add_argument("--work-dir", help="where ONNX variants are cached (default: ~/.cache/srharness/eval)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=run)


def weights_root(weights_dir: str | None, data_dir: str | None, dataset: str | None) -> Path | None:
    """Where --weights auto looks: --weights-dir, $SRHARNESS_WEIGHTS_DIR, then <data dir>/weights
    ($SRHARNESS_DATA_DIR first: for --dataset folder, --data-dir is an image folder)."""
    if weights_dir or os.environ.get("SRHARNESS_WEIGHTS_DIR"):
        return Path(weights_dir or os.environ["SRHARNESS_WEIGHTS_DIR"])
    shared = os.environ.get("SRHARNESS_DATA_DIR")
    if dataset == "folder" or not data_dir:
        return Path(shared) / "weights" if shared else None
    return Path(data_dir) / "weights"


def load_model(name: str, scale: int, weights: str | None, data_dir: str | None, weights_dir: Path | None = None):
    """The network with the given weights (None: deterministic random init; "auto": the official
    checkpoint in the weights dir (default <data-dir>/weights), as the suites' sr_model fixture finds it)."""
    from srharness.checkpoints import CheckpointError, find_weights, load_into
    from srharness.models import build_model
    if weights is None:
        return build_model(name, scale), None
    if weights == "auto":
        where = weights_dir or (Path(data_dir) / "weights" if data_dir else None)
        path = find_weights(where, name, scale)   # also a model package's bundled weights
        if path is None:
            raise CliError(f"--weights auto: no official {name} x{scale} checkpoint under "
                           f"{where or '(no --weights-dir, $SRHARNESS_WEIGHTS_DIR or data dir)'}; "
                           "give a checkpoint path or --weights-dir")
    else:
        path = Path(weights)
    try:
        return load_into(name, scale, path), path
    except CheckpointError as exc:
        raise CliError(str(exc)) from None


VARIANT_OPSET = 13   # QDQ per-channel int8 needs opset >= 13; onnxruntime runs DepthToSpace fine


def make_runner(backend: str, model, weights_path, spec, protocol, dataset, scale: int, work_dir: Path):
    """A Runner from the backend factory; ONNX backends get the model exported (dynamic H, W,
    cached in work_dir) or an ONNX-only model's own file, int8 ones the protocol's inputs."""
    from srharness.backends import BackendUnavailable, backend_names, build_runner, get_backend
    try:
        info = get_backend(backend)
    except KeyError:
        raise CliError(f"--backend {backend!r}: unknown; known here: "
                       f"{', '.join(n for h in EVAL_HARDWARE for n in backend_names(h))}") from None
    if info.hardware not in EVAL_HARDWARE:
        raise CliError(f"--backend {backend}: a {info.hardware} card backend; it runs in its suite "
                       f"(pytest -m {info.hardware})")
    kwargs = {}
    if "onnx" in info.needs and spec.has_torch:
        from srharness.checkpoints import sha256_file
        from srharness.export import export_onnx
        tag = sha256_file(weights_path)[:12] if weights_path else "seed0"
        fp32 = work_dir / f"{spec.name}-x{scale}-{tag}-op{VARIANT_OPSET}-dyn.onnx"
        if not fp32.is_file():
            side = 16 * spec.input_multiple
            export_onnx(spec.name, fp32, scale=scale, opset=VARIANT_OPSET, shape=(side, side), dynamic=True,
                        weights=weights_path)
        kwargs["onnx"] = fp32
    if "calibration" in info.needs:
        kwargs["calibration"] = [protocol.prepare(s.hr(), scale, spec, name=s.name, sample=s).input for s in dataset]
    try:
        runner = build_runner(backend, spec=spec, scale=scale, module=model, workdir=work_dir, **kwargs)
        return runner.build() if info.hardware != "cpu" else runner
    except BackendUnavailable as exc:
        raise CliError(f"--backend {backend}: {exc}") from None


def run(args) -> int:
    from srharness.data.datasets import DatasetError, load_dataset
    from srharness.protocols import ProtocolError, evaluate, get_protocol

    data_dir = args.data_dir or os.environ.get("SRHARNESS_DATA_DIR")
    spec = model_spec(args.model, args.scale)
    dataset_name = args.dataset or ("set5" if data_dir else "embedded")
    try:
        protocol = get_protocol(args.protocol or spec.guide_protocol)
        if args.bicubic_rounding:
            protocol = protocol.with_params(bicubic_rounding=args.bicubic_rounding)
        dataset = load_dataset(dataset_name, data_dir, args.scale)
        if args.images:
            dataset = dataset.subset(args.images)
        dataset.require_min_side(*_min_side(protocol, args.scale))
    except (DatasetError, ProtocolError) as exc:
        raise CliError(str(exc)) from None
    args.backend = args.backend or ("torch" if spec.has_torch else "ort")
    if spec.has_torch:
        model, weights_path = load_model(spec.name, args.scale, args.weights, data_dir,
                                         weights_root(args.weights_dir, args.data_dir, dataset_name))
    elif args.weights:
        raise CliError(f"--weights: {spec.name} is an ONNX-only model ({spec.onnx}); its weights are in the file")
    else:
        model, weights_path = None, Path(spec.onnx)
    weights_desc = str(weights_path) if weights_path else "random init (seed 0)"
    work_dir = Path(args.work_dir or Path.home() / ".cache" / "srharness" / "eval")
    from srharness import progress as progress_display
    if args.json:
        progress_display.quiet()
    with progress_display.status(f"preparing backend {args.backend} (export, quantise, calibrate as needed)"):
        runner = make_runner(args.backend, model, weights_path, spec, protocol, dataset, args.scale, work_dir)

    def progress(name, image, prep, score):
        if not args.json:
            bic = f"  (bicubic {score.bicubic_psnr:.3f})" if score.bicubic_psnr is not None else ""
            print(f"  {name:<12} PSNR {score.psnr:8.4f} dB  SSIM {score.ssim:.4f}{bic}", flush=True)

    if not args.json:
        print(f"{spec.name} x{args.scale} | backend {args.backend} | weights {weights_desc}")
        print(f"dataset {dataset.name} ({len(dataset)} images, {dataset.root})")
        for k, v in protocol.conventions(args.scale).items():
            print(f"  {k}: {v}")
    run_model = runner.run
    if args.tile:
        from srharness.protocols import run_tiled
        out_scale = args.scale if spec.upsamples else 1
        overlap = 16 * spec.input_multiple
        least = 2 * overlap + spec.input_multiple
        if args.tile < least:
            raise CliError(f"--tile {args.tile}: a tile must be at least {least} px ({overlap} px of overlap each "
                           f"side plus a step of {spec.input_multiple}); use 0 for the whole image")

        def run_model(x):
            return run_tiled(runner.run, x, out_scale, args.tile, overlap=overlap, multiple=spec.input_multiple)
    try:
        result = evaluate(protocol, run_model, dataset, args.scale, spec, on_image=progress)
    except (DatasetError, ProtocolError) as exc:
        raise CliError(str(exc)) from None
    except FloatingPointError as exc:   # torch_runner.NonFiniteOutput: fp16 overflow, never a figure
        raise CliError(str(exc)) from None
    if args.json:
        out = result.to_dict()
        out.update(model=spec.name, backend=args.backend, weights=weights_desc,
                   conventions=protocol.conventions(args.scale), runner=vars(runner.describe()))
        print(json.dumps(json_safe(out, "eval"), indent=2, default=str, allow_nan=False))
    else:
        json_safe(result.to_dict(), "eval")   # a NaN figure is an error in text mode too
        print(f"mean PSNR {result.mean_psnr:.4f} dB  mean SSIM {result.mean_ssim:.4f}  ({len(result.images)} images)")
    return 0


SSIM_WINDOW = 11   # metrics.ssim: Gaussian 11x11, valid


def _min_side(protocol, scale: int) -> tuple[int, str]:
    """The smallest HR side a protocol can score: modcrop, then its shave on both sides, then
    the SSIM window must still fit."""
    try:
        border = int(protocol.crop_border(scale))
    except Exception:   # a protocol without a crop rule: no shave
        border = 0
    return 2 * border + SSIM_WINDOW + scale, (f"protocol {protocol.name} at x{scale} (modcrop {scale}, shave "
                                              f"{border} px per side, SSIM window {SSIM_WINDOW})")


def json_safe(obj, where: str):
    """The figures as JSON allows them: NaN is an error (a broken run, never a figure); +/-inf (PSNR
    of identical images) is written as the string "inf"."""
    import math
    if isinstance(obj, float):
        if math.isnan(obj):
            raise CliError(f"{where}: a figure is NaN: the model output holds NaN/inf (check the weights "
                           "and the backend's precision); no figure written")
        return obj if math.isfinite(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: json_safe(v, f"{where}.{k}" if where else str(k)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    return obj
