"""srharness diagnose: where a compiled variant diverges from its fp32 graph, and the smallest fix.

    srharness diagnose vdsr --scale 4 --backend ort-int8-entropy --protocol vdsr-vacc --weights auto \\
        --data-dir ../shared/data --repair --json
    srharness diagnose --msit-csv result_20230419.csv          # a card's `msit debug compare` result

Localise: every intermediate tensor of the variant against onnxruntime fp32 on the same float graph
(onnxruntime.quantization.qdq_loss_debug), on the protocol's inputs; per node cosine, SQNR, relative
L2, max abs error, NaN/Inf, fp16 overflow; the first node over threshold. --repair: the smallest
set of nodes kept in higher precision (ORT nodes_to_exclude / node_block_list) for which the real
figure passes its golden rule, judged by re-running it; the fix is written for ORT, ATC and vamc.
"""
from __future__ import annotations

import json
import sys

from srharness.cli import CliError
from srharness import settings


def arguments(p):
    from srharness.diagnose import DIAGNOSABLE_BACKENDS
    p.add_argument("model", nargs="?", help="model name (vdsr, srcnn, rdn, rcan-sr4k-lite, ...)")
    p.add_argument("--backend", choices=DIAGNOSABLE_BACKENDS, help="the variant to diagnose")
    p.add_argument("--scale", type=int, default=None)
    p.add_argument("--protocol", help="evaluation protocol (default: the model's guide protocol)")
    p.add_argument("--dataset", help="set5 | selfexsr | folder (the images in --data-dir) | embedded (default: set5 "
                                     "with a data dir)")
    p.add_argument("--images", help="comma-separated image names (default: all)")
    p.add_argument("--work-dir", help="where ONNX variants are cached (default: ~/.cache/srharness/eval)")
    p.add_argument("--out-dir", help="where the fix files go (default: <work-dir>/diagnose/<model>-x<scale>-<backend>)")
    p.add_argument("--rule", help="judge by agreement instead of the golden: 'agreement:DB' = PSNR of the "
                                  "variant's output vs torch fp32's >= DB (random-init models)")
    p.add_argument("--kl-bins", type=int, help="Entropy histogram bins (default 2048, as srharness eval)")
    p.add_argument("--repair", action="store_true", help="search the smallest set of nodes to keep in higher precision")
    p.add_argument("--max-runs", type=int, help="cap on figure re-runs during --repair (default: the search's bound)")
    p.add_argument("--msit-csv", help="read an Ascend `msit debug compare` result CSV instead of running a model")
    p.add_argument("--rows", type=int, default=60, help="table rows printed (text output)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    from srharness.diagnose import DiagnoseConfig, DiagnoseError, diagnose, nodes_table_text
    if args.msit_csv:
        return _run_msit(args)
    if not args.model and args.weights and args.backend:
        from srharness.cli import model_from_weights
        model_from_weights(args)   # no MODEL: --weights' architecture is detected (srharness.zoo)
    if args.scale is None:
        args.scale = 2
    if not args.model or not args.backend:
        raise CliError("give MODEL and --backend (or --msit-csv FILE)")
    from srharness.data.datasets import DatasetError
    from srharness.protocols import ProtocolError
    from srharness.quantize import QuantizeError
    cfg = DiagnoseConfig(model=args.model, backend=args.backend, scale=args.scale, protocol=args.protocol,
                         dataset=args.dataset, data_dir=settings.resolve("sr_data_dir", flag=args.data_dir),
                         weights=args.weights, weights_dir=args.weights_dir,
                         images=args.images.split(",") if args.images else None, work_dir=args.work_dir,
                         out_dir=args.out_dir, golden_dir=settings.resolve("sr_golden_dir", flag=args.golden_dir),
                         rule=args.rule, kl_bins=args.kl_bins, max_runs=args.max_runs)
    stream = sys.stderr if args.json else sys.stdout        # --json keeps stdout for the one JSON object
    progress = lambda s: print(s, file=stream, flush=True)  # noqa: E731
    try:
        result = diagnose(cfg, repair=args.repair, progress=progress)
    except (DiagnoseError, DatasetError, ProtocolError, QuantizeError, KeyError) as exc:
        raise CliError(exc.args[0] if exc.args else str(exc)) from None
    if args.json:
        json.dump(result, sys.stdout, indent=2, default=str, allow_nan=False)
        print()
        return 0 if not result.get("repair") or result["repair"]["passed"] else 1
    first = result["first_divergent_node"]
    print(f"\n{result['model']} x{result['scale']} {result['backend']} | {result['protocol']} on {result['dataset']} "
          f"({len(result['images'])} images) | weights {result['weights']} | reference: {result['reference']['what']}")
    print(f"figure: {result['figure']['before']['psnr']:.4f} dB ({'pass' if result['figure']['before']['passed'] else 'FAIL'}); "
          f"rule: {result['rule']}")
    print(nodes_table_text(result["nodes"], first, limit=args.rows))
    if first:
        print(f"\nfirst divergent node: {first['node']} ({first['op_type']}, tensor {first['tensor']}): cosine "
              f"{first['cosine']:.5f}, SQNR {first['sqnr_db']:.2f} dB, rel L2 {first['relative_l2']:.4f}, "
              f"max abs {first['max_abs_error']:.4g}; {first['origin'] or 'no compared input'}")
    print(f"error pattern: {result['error_pattern']}")
    dc = result.get("debug_graph_check")
    if dc:
        print(f"debug graph vs deployed session: SQNR {dc['debug_vs_deployed_sqnr_db']:.2f} dB "
              f"(variant vs reference {dc['reference_vs_deployed_sqnr_db']:.2f} dB): "
              f"{'stands in' if dc['stands_in'] else 'DOES NOT stand in: read the table with care'}")
    rep = result.get("repair")
    if rep:
        print(f"\nrepair ({rep['option']}): {rep['excluded']} of {rep['candidates']} nodes: {rep['excluded_nodes']}")
        print(f"  before {rep['before']['psnr']:.4f} dB -> after {rep['after']['psnr']:.4f} dB: "
              f"{'PASS' if rep['passed'] else 'FAIL'} ({rep['reruns']} figure runs, bound {rep['rerun_bound']})")
        if rep.get("fix"):
            print(f"  ORT: {rep['fix']['ort']['file']}\n  ATC: {rep['fix']['atc']['file']}\n"
                  f"  vamc: {rep['fix']['vamc']['note']} skip_conv_layers={rep['fix']['vamc']['skip_conv_layers']}")
        if rep.get("note"):
            print(f"  note: {rep['note']}")
        if rep.get("spread"):
            alt = rep["spread"]["alternative"]
            print(f"  {rep['spread']['note']}\n  alternative: calibrate_mode={alt['calibrate_mode']} -> "
                  f"{alt['psnr']:.4f} dB ({'pass' if alt['passed'] else 'FAIL'})")
        cal = rep.get("calibration")
        if cal:
            print(f"\ncalibration: {cal['narrower_than_reference']} of {cal['tensors']} quantized activations are "
                  f"narrower than the reference KL search on the same histograms (median widening "
                  f"{cal['median_widening'] or 0:.2f}x)\n  cause: {cal['cause']}")
            from srharness.diagnose import calibration_table_text
            print(calibration_table_text(cal["table"], limit=args.rows))
            print(f"  reference ranges, every tensor: {cal['before']['psnr']:.4f} -> {cal['after']['psnr']:.4f} dB "
                  f"({'PASS' if cal['passed'] else 'FAIL'})")
            sm = cal.get("smallest_tensor_set")
            if sm:
                print(f"  smallest set of tensors needing them: {sm['count']} of {sm['of']} "
                      f"({sm['reruns']} figure runs, bound {sm['rerun_bound']})")
            if cal.get("fix"):
                print(f"  ORT: {cal['fix']['ort']['file']}\n  vamc: {cal['fix']['vamc']['note']}")
        if rep.get("smallest_fix"):
            print(f"\nsmallest fix: {rep['smallest_fix']['text']}")
    print(f"cost: {result['cost']}")
    return 0 if not rep or rep["passed"] else 1


def _run_msit(args) -> int:
    from srharness.diagnose import nodes_table_text
    from srharness.diagnose.msit import read_compare_csv
    from srharness.tools.msit import MsitCsvError
    try:
        result = read_compare_csv(args.msit_csv)
    except MsitCsvError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        json.dump(result, sys.stdout, indent=2, default=str)
        print()
    else:
        print(f"msit compare: {args.msit_csv} ({len(result['nodes'])} rows)")
        print(nodes_table_text(result["nodes"], result["first_divergent_node"], limit=args.rows))
        first = result["first_divergent_node"]
        print(f"first divergent node: {first['node'] if first else 'none'}; first over each monitor: "
              f"{ {k: (v['node'] if v else None) for k, v in result['first_over'].items()} }")
    return 0
