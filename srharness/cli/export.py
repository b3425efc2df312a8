"""srharness export: a registry model to ONNX, and what the file really contains.

Export a registry model to ONNX. The report reads the written file: opset from opset_import, op
census, input/output names and shapes.
"""
from __future__ import annotations

import json

from srharness.cli import CliError, model_from_weights, model_spec
from srharness.cli import args as types


def arguments(p):
    p.add_argument("model", nargs="?", metavar="MODEL",
                   help="srcnn, vdsr, rdn, rcan, rcan-sr4k, rcan-sr4k-lite or rcan-training")
    p.add_argument("--scale", type=types.scale, default=None, help="upscaling factor (default 2)")
    p.add_argument("--opset", type=types.opset, default=None,
                   help="opset to ask for (default: the guide's opset; within the installed exporter's range)")
    p.add_argument("--exporter", choices=("legacy", "dynamo"), default="legacy",
                   help="legacy: torch.onnx.export(dynamo=False), honours opset 9; dynamo: torch's default "
                        "exporter (stays at opset 18, emits DepthToSpace)")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--shape", type=types.shape, default=None, metavar="HxW",
                       help="static input height x width (default: the model's small test shape)")
    shape.add_argument("--dynamic", action="store_true", help="dynamic batch, height and width axes")
    p.add_argument("--rewrite-depth-to-space", action="store_true",
                   help="rewrite DepthToSpace into Reshape/Transpose/Reshape after export")
    p.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="where to write the ONNX file")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args) -> int:
    from srharness.checkpoints import CheckpointError
    from srharness.export import ExportError, export_onnx

    model_from_weights(args)   # no MODEL: --weights' architecture is detected (srharness.zoo)
    from srharness.deploy import resolve_weights, weights_label
    from srharness.settings import weights_dir
    spec = model_spec(args.model, args.scale)  # a clear error for an unknown model or scale
    # resolved as eval and diagnose resolve them: an explicit file, or auto in the weights dir
    weights = resolve_weights(args.weights, spec, args.scale, weights_dir=weights_dir(args.weights_dir))
    legacy_max = types.legacy_opset_max()
    if args.exporter == "legacy" and args.opset is not None and args.opset > legacy_max:
        raise CliError(f"--opset {args.opset}: the legacy exporter writes opsets up to {legacy_max}; "
                       "use --exporter dynamo or a lower opset")
    from srharness import progress
    if args.json:
        progress.quiet()
    try:
        with progress.status(f"exporting {args.model} x{args.scale} to ONNX ({args.exporter} exporter)"):
            result = export_onnx(args.model, args.output, scale=args.scale, opset=args.opset, exporter=args.exporter,
                                 shape=args.shape, dynamic=args.dynamic, weights=weights,
                                 rewrite=args.rewrite_depth_to_space)
    except (ExportError, CheckpointError) as exc:
        raise CliError(str(exc)) from None
    info = {**result.to_dict(), "weights": weights_label(spec, weights)}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"wrote {result.path}")
    opset_note = "" if result.opset == result.requested_opset else \
        f"  (asked for {result.requested_opset}: the {result.exporter} exporter did not honour it)"
    print(f"  model     {args.model} x{args.scale}, exporter {result.exporter}")
    print(f"  weights   {info['weights']}")
    print(f"  opset     {result.opset}{opset_note}")
    for kind, values in (("input", result.inputs), ("output", result.outputs)):
        for name, dims in values:
            print(f"  {kind:<9} {name} {dims}")
    print("  ops       " + ", ".join(f"{op} {n}" for op, n in result.op_census.items()))
    if result.has_depth_to_space:
        print("  note      DepthToSpace present: the Ascend guides' toolchain cannot compile it; export at "
              "opset 9 with --exporter legacy, or pass --rewrite-depth-to-space")
    return 0
