"""srharness eval: PSNR/SSIM of a model on a dataset under a named protocol, per image and mean.

    srharness eval vdsr --scale 4 --dataset set5 --protocol benchmark --data-dir ../shared/data
    srharness eval vdsr --scale 4 --protocol vdsr-vacc --backend ort-int8-entropy
    srharness eval rdn --scale 2 --weights rdn_x2.pth --dataset folder --data-dir my_images/
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from srharness.cli import CliError, model_spec

BACKENDS = ("torch", "ort", "ort-fp16", "ort-int8", "ort-int8-minmax", "ort-int8-entropy")


def add_parser(sub):
    p = sub.add_parser("eval", help="PSNR/SSIM of a model on a dataset under a guide's protocol",
                       description=__doc__.splitlines()[0])
    p.add_argument("model", help="model name (srcnn, vdsr, rdn, rcan, rcan-sr4k, ...)")
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--weights", help="checkpoint file ('auto': the shared data's official weights); "
                                     "default: random init (only meaningful for fidelity)")
    p.add_argument("--dataset", default=None,
                   help="set5 | selfexsr | vdsr-mat | div2k | folder | embedded "
                        "(default: set5 with a data dir, embedded without)")
    p.add_argument("--data-dir", help="data folder (default $SRHARNESS_DATA_DIR); for --dataset folder, the image folder")
    p.add_argument("--protocol", help="evaluation protocol (default: the model's guide protocol)")
    p.add_argument("--bicubic-rounding", choices=("per-pass", "final", "none"),
                   help="benchmark protocols: how the MATLAB bicubic is rounded (see srharness.protocols)")
    p.add_argument("--backend", choices=BACKENDS, default="torch")
    p.add_argument("--tile", type=int, default=0,
                   help="run the model on overlapping input tiles of this size (bounded memory, e.g. RCAN at "
                        "1080x1920 on a CPU machine); 0 = whole image")
    p.add_argument("--images", help="comma-separated image names to evaluate (default: all)")
    p.add_argument("--work-dir", help="where ONNX variants are cached (default: ~/.cache/srharness/eval)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=run)


def load_model(name: str, scale: int, weights: str | None, data_dir: str | None):
    """The network with the given weights (None: deterministic random init; "auto": the official
    checkpoint in <data-dir>/weights, as the suites' sr_model fixture finds it)."""
    from srharness.checkpoints import CheckpointError, find_weights, load_into
    from srharness.models import build_model
    if weights is None:
        return build_model(name, scale), None
    if weights == "auto":
        path = find_weights(Path(data_dir) / "weights", name, scale) if data_dir else None
        if path is None:
            raise CliError(f"--weights auto: no official {name} checkpoint under "
                           f"{Path(data_dir) / 'weights' if data_dir else '(no --data-dir)'}; give a checkpoint path")
    else:
        path = Path(weights)
    try:
        return load_into(name, scale, path), path
    except CheckpointError as exc:
        raise CliError(str(exc)) from None


VARIANT_OPSET = 13   # QDQ per-channel int8 needs opset >= 13; onnxruntime runs DepthToSpace fine


def make_runner(backend: str, model, weights_path, spec, protocol, dataset, scale: int, work_dir: Path):
    """A Runner for the backend; ORT variants are exported (dynamic H, W) and cached in work_dir."""
    from srharness.runners.torch_runner import TorchRunner
    if backend == "torch":
        return TorchRunner(model)
    from srharness import quantize
    from srharness.checkpoints import sha256_file
    from srharness.export import export_onnx
    from srharness.runners.ort_runner import OrtRunner
    tag = sha256_file(weights_path)[:12] if weights_path else "seed0"
    fp32 = work_dir / f"{spec.name}-x{scale}-{tag}-op{VARIANT_OPSET}-dyn.onnx"
    if not fp32.is_file():
        side = 16 * spec.input_multiple
        export_onnx(spec.name, fp32, scale=scale, opset=VARIANT_OPSET, shape=(side, side), dynamic=True,
                    weights=weights_path)
    if backend == "ort":
        return OrtRunner(fp32)
    if backend == "ort-fp16":
        return OrtRunner(quantize.to_fp16(fp32), backend_name="ort-fp16", precision="fp16")
    mode = quantize.INT8_BACKENDS[backend]
    calib = [protocol.prepare(s.hr(), scale, spec, name=s.name, sample=s).input for s in dataset]
    return OrtRunner(quantize.to_int8(fp32, calib, mode), backend_name=backend, precision="int8")


def run(args) -> int:
    from srharness.data.datasets import DatasetError, load_dataset
    from srharness.protocols import ProtocolError, default_protocol, evaluate, get_protocol

    data_dir = args.data_dir or os.environ.get("SRHARNESS_DATA_DIR")
    spec = model_spec(args.model, args.scale)
    dataset_name = args.dataset or ("set5" if data_dir else "embedded")
    try:
        protocol = get_protocol(args.protocol or default_protocol(spec.name))
        if args.bicubic_rounding:
            protocol = protocol.with_params(bicubic_rounding=args.bicubic_rounding)
        dataset = load_dataset(dataset_name, data_dir, args.scale)
        if args.images:
            dataset = dataset.subset(args.images.split(","))
    except (DatasetError, ProtocolError) as exc:
        raise CliError(str(exc)) from None
    model, weights_path = load_model(spec.name, args.scale, args.weights, data_dir)
    weights_desc = str(weights_path) if weights_path else "random init (seed 0)"
    work_dir = Path(args.work_dir or Path.home() / ".cache" / "srharness" / "eval")
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

        def run_model(x):
            return run_tiled(runner.run, x, out_scale, args.tile, overlap=overlap, multiple=spec.input_multiple)
    try:
        result = evaluate(protocol, run_model, dataset, args.scale, spec, on_image=progress)
    except (DatasetError, ProtocolError) as exc:
        raise CliError(str(exc)) from None
    if args.json:
        out = result.to_dict()
        out.update(model=spec.name, backend=args.backend, weights=weights_desc,
                   conventions=protocol.conventions(args.scale), runner=vars(runner.describe()))
        json.dump(out, sys.stdout, indent=2, default=str)
        print()
    else:
        print(f"mean PSNR {result.mean_psnr:.4f} dB  mean SSIM {result.mean_ssim:.4f}  ({len(result.images)} images)")
    return 0
