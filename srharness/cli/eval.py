"""srharness eval: PSNR/SSIM of a model on a dataset under a named protocol, per image and mean.

    srharness eval vdsr --scale 4 --dataset set5 --protocol benchmark --data-dir ../shared/data
    srharness eval vdsr --scale 4 --protocol vdsr-vacc --backend ort-int8-entropy
    srharness eval rdn --scale 2 --weights rdn_x2.pth --dataset folder --data-dir my_images/
    srharness eval --weights RealESRGAN_x4plus.pth --dataset set5   # no MODEL: detected (srharness[zoo])
"""
from __future__ import annotations

import json
from pathlib import Path

from srharness.cli import CliError, model_from_weights, model_spec
from srharness.cli import args as types
from srharness import settings

# Backends come from the backend registry (srharness.backends): the CPU and GPU ones run here; card
# backends (ascend-om, vacc-*, tensorrt) run in their suites. fp16/bf16 outputs are checked for NaN/Inf.
EVAL_HARDWARE = ("cpu", "cuda")


def arguments(p):
    p.add_argument("model", nargs="?", help="model name (srcnn, vdsr, rdn, rcan, rcan-sr4k, ...)")
    p.add_argument("--scale", type=types.scale, default=None)
    p.add_argument("--dataset", default=None,
                   help="set5 | selfexsr | vdsr-mat | div2k | folder (the images in --data-dir) | embedded "
                        "(default: set5 with a data dir, embedded without)")
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


def make_runner(backend: str, spec, scale: int, *, weights, weights_dir, protocol, dataset, work_dir: Path):
    """The deployed runner (srharness.deploy: weights, export cache, variant, calibration, the one
    backend factory); only the CPU and GPU backends run here."""
    from srharness.backends import BackendUnavailable, backend_names
    from srharness.deploy import DeployError, deploy, get_backend_info
    info = get_backend_info(backend, known=[n for h in EVAL_HARDWARE for n in backend_names(h)])
    if info.hardware not in EVAL_HARDWARE:
        raise CliError(f"--backend {backend}: a {info.hardware} card backend; it runs in its suite "
                       f"(pytest -m {info.hardware})")
    try:
        return deploy(spec, scale, backend=backend, weights=weights, weights_dir=weights_dir, protocol=protocol,
                      dataset=dataset, workdir=work_dir, build=info.hardware != "cpu")
    except (BackendUnavailable, DeployError) as exc:
        raise CliError(f"--backend {backend}: {exc}" if isinstance(exc, BackendUnavailable) else str(exc)) from None


def run(args) -> int:
    from srharness.data.datasets import DatasetError, load_dataset
    from srharness.protocols import ProtocolError, evaluate, get_protocol

    data_dir = settings.resolve("sr_data_dir", flag=args.data_dir)
    model_from_weights(args)   # no MODEL: --weights' architecture is detected (srharness.zoo)
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
    from srharness.settings import weights_dir
    work_dir = Path(args.work_dir or Path.home() / ".cache" / "srharness" / "eval")
    from srharness import progress as progress_display
    if args.json:
        progress_display.quiet()
    with progress_display.status(f"preparing backend {args.backend} (export, quantise, calibrate as needed)"):
        deployed = make_runner(args.backend, spec, args.scale, weights=args.weights, protocol=protocol,
                               dataset=dataset, work_dir=work_dir,
                               weights_dir=weights_dir(args.weights_dir,
                                                       None if dataset_name == "folder" else args.data_dir))
    runner, weights_desc = deployed.runner, deployed.weights_desc

    def progress(name, image, prep, score):
        if not args.json:
            bic = f"  (bicubic {score.bicubic_psnr:.3f})" if score.bicubic_psnr is not None else ""
            print(f"  {name:<12} PSNR {score.psnr:8.4f} dB  SSIM {score.ssim:.4f}{bic}", flush=True)

    if not args.json:
        print(f"{spec.name} x{args.scale} | backend {args.backend} | weights {weights_desc}")
        from srharness.registry import MODELS
        if spec.name in MODELS.replaced:   # a plugin took the name over: its figures are not the built-in's
            print(f"  WARNING: {spec.name} is not the built-in model: registered by {spec.registered_by}")
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
        from srharness.registry import replacements
        out.update(model=spec.name, backend=args.backend, weights=weights_desc, deploy_key=deployed.key(),
                   replaced_builtins=replacements(),
                   conventions=protocol.conventions(args.scale), runner=vars(runner.describe()))
        print(json.dumps(json_safe(out, "eval"), indent=2, default=str, allow_nan=False))
    else:
        json_safe(result.to_dict(), "eval")   # a NaN figure is an error in text mode too
        print(f"mean PSNR {result.mean_psnr:.4f} dB  mean SSIM {result.mean_ssim:.4f}  ({len(result.images)} images)")
    return 0


def _min_side(protocol, scale: int) -> tuple[int, str]:
    from srharness.metrics import SSIM_WINDOW   # the one definition, beside the SSIM it bounds
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
