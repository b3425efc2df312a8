"""The whole diagnosis of one model's compiled variant: export, localise, repair, calibration."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .calibration import (
    ORT_KL_NOTE,
    calibration_table,
    quantized_activations,
    write_calibration_fix,
)
from .localisation import _quiet, localise
from .metrics import (
    DIAGNOSABLE_BACKENDS,
    FP16_BACKENDS,
    INT8_BACKENDS,
    DiagnoseError,
    Thresholds,
    tensor_metrics,
)
from .repair import (
    Trial,
    candidate_nodes,
    rank_candidates,
    repair_bound,
    search_exclusions,
    write_fix,
)


# ------------------------------------------------------------------ the whole run on a model
@dataclass
class DiagnoseConfig:
    model: str
    backend: str
    scale: int = 2
    protocol: str | None = None
    dataset: str | None = None
    data_dir: str | None = None
    weights: str | None = None          # None: random init; "auto": the official checkpoint in the weights dir
    weights_dir: str | None = None      # where "auto" looks (default: $SRHARNESS_WEIGHTS_DIR, <data_dir>/weights)
    images: Sequence[str] | None = None
    work_dir: str | None = None
    out_dir: str | None = None
    golden_dir: str | None = None
    rule: str | None = None             # None: the golden's rule vs torch fp32; "agreement:DB": PSNR vs torch >= DB
    kl_bins: int | None = None
    max_runs: int | None = None
    thresholds: Thresholds = Thresholds()


def variant_kind(backend: str) -> str:
    if backend in INT8_BACKENDS:
        return "int8"
    if backend in FP16_BACKENDS:
        return "fp16"
    raise DiagnoseError(f"backend {backend!r} cannot be diagnosed here; diagnosable: {', '.join(DIAGNOSABLE_BACKENDS)} "
                        "(a card's om-vs-onnx comparison: read its msit compare CSV with --msit-csv)")


def figure_rule(cfg: DiagnoseConfig, spec, protocol_name: str, precision: str):
    """(Rule, golden value or None, text) judging the variant's figure. Default: the golden file's
    rule for this model, protocol and precision, against torch fp32 measured in the same run (the
    guides' comparison); `agreement:DB`: PSNR of the variant's output against torch's >= DB."""
    from srharness.golden import Rule
    if cfg.rule:
        kind, _, value = cfg.rule.partition(":")
        if kind != "agreement":
            raise DiagnoseError(f"--rule {cfg.rule!r}: expected agreement:DB (e.g. agreement:25)")
        try:
            floor = float(value)
        except ValueError:
            raise DiagnoseError(f"--rule {cfg.rule!r}: {value!r} is not a number of dB") from None
        return Rule(type="absolute", tolerance=0.0, sides="one-sided"), floor, \
            f"agreement: PSNR of the variant's output vs torch fp32's (protocol-finished) >= {floor:g} dB"
    from srharness import resources
    golden_dir = cfg.golden_dir or str(resources.golden_dir(Path.cwd()))
    try:
        from srharness.golden import load_goldens
        gs = load_goldens(golden_dir)
        found = [g for g in gs.select(model=spec.name, metric="psnr", protocol=protocol_name, precision=precision)
                 if g.image is None and g.rule.type not in ("none", "exceeds")]
    except Exception:     # no golden dir: fall back to the guides' rule, said so in the text
        found = []
    if found:
        g = found[0]
        return g.rule, None, f"{g.rule.describe('dB')} vs torch fp32 (this run); rule of golden {g.id}"
    rule = Rule()
    return rule, None, f"{rule.describe('dB')} vs torch fp32 (this run); the guides' default rule (no golden)"


def diagnose(cfg: DiagnoseConfig, repair: bool = False, progress: Callable[[str], None] | None = None, *,
             evaluations=None, export_cache=None) -> dict:
    """Localise (and optionally repair) the variant `cfg.backend` of a model on a dataset.
    `evaluations` (a srharness.eval_cache.EvalCache, e.g. a pytest run's): the torch figure and the
    variant's "before" figure come from it when it holds them (the failing check's own evaluations)
    and go into it otherwise; `export_cache`: the export cache folder to deploy through."""
    from srharness import protocols, quantize
    from srharness.data.datasets import load_dataset
    from srharness.deploy import DeployError, deploy
    from srharness.settings import weights_dir
    from srharness.metrics import psnr as psnr_of
    from srharness.models import get_model_spec
    from srharness.protocols import evaluate, get_protocol
    from srharness.runners.ort_runner import OrtRunner
    say = progress or (lambda s: None)
    t_start = time.perf_counter()
    kind = variant_kind(cfg.backend)
    spec = get_model_spec(cfg.model)
    if cfg.scale not in spec.scales:
        raise DiagnoseError(f"{spec.name} is defined for scales {list(spec.scales)}, not x{cfg.scale}")
    protocol = get_protocol(cfg.protocol or getattr(spec, "guide_protocol", None)
                            or protocols.default_protocol(spec.name))
    dataset = load_dataset(cfg.dataset or ("set5" if cfg.data_dir else "embedded"), cfg.data_dir, cfg.scale)
    if cfg.images:
        dataset = dataset.subset(list(cfg.images))
    work = Path(cfg.work_dir or Path.home() / ".cache" / "srharness" / "eval")
    work.mkdir(parents=True, exist_ok=True)
    # the model and its fp32 ONNX file as `srharness eval` deploys them (srharness.deploy: weights
    # resolved once, the source-keyed export cache): a changed forward is a new file
    try:
        reference = deploy(spec, cfg.scale, backend="torch", weights=cfg.weights, build=False,
                           weights_dir=weights_dir(cfg.weights_dir, cfg.data_dir))
        deployed = deploy(spec, cfg.scale, backend="ort", weights=reference.weights, workdir=work, build=False,
                          export_cache=export_cache)
    except DeployError as exc:
        raise DiagnoseError(str(exc)) from None
    torch_runner, weights_path, fp32 = reference.runner, reference.weights, deployed.onnx
    preps = [protocol.prepare(s.hr(), cfg.scale, spec, name=s.name, sample=s) for s in dataset]
    inputs = [p.input.astype(np.float32) for p in preps]
    mode = quantize.INT8_BACKENDS.get(cfg.backend)

    def variant_file(excluded: Sequence[str], calibrate_mode: str | None = None,
                     tensor_ranges: dict | None = None) -> Path:
        with _quiet():
            if kind == "int8":
                return quantize.to_int8(fp32, inputs, calibrate_mode or mode, kl_bins=cfg.kl_bins,
                                        nodes_to_exclude=tuple(excluded), tensor_ranges=tensor_ranges)
            return quantize.to_fp16(fp32, node_block_list=tuple(excluded))

    # reference figure: torch fp32 through the protocol (the agreement rule needs its images, which
    # the evaluation cache does not keep)
    say("torch fp32 reference figure")
    agreement = cfg.rule is not None
    shared = evaluations if not agreement else None
    from_cache: dict[str, str] = {}
    torch_images: dict[str, np.ndarray] = {}

    def keep(name, image, prep, score):
        torch_images[name] = image
    if shared is not None:
        from srharness.eval_cache import evaluation
        ev = evaluation(shared, reference, protocol=protocol, dataset=dataset)
        torch_result, from_cache["torch fp32"] = ev.result, ev.cache
    else:
        torch_result = evaluate(protocol, torch_runner.run, dataset, cfg.scale, spec, on_image=keep)
    rule, floor, rule_text = figure_rule(cfg, spec, protocol.name, kind)

    def figure(excluded: tuple[str, ...], step: str, calibrate_mode: str | None = None,
               tensor_ranges: dict | None = None) -> Trial:
        t0 = time.perf_counter()
        path = variant_file(excluded, calibrate_mode, tensor_ranges)
        runner = OrtRunner(path, backend_name=cfg.backend, precision=kind)
        if agreement:
            scores = []

            def compare(name, image, prep, score):
                scores.append(psnr_of(image, torch_images[name], data_range=protocol.data_range,
                                      crop_border=protocol.crop_border(cfg.scale)))
            evaluate(protocol, runner.run, dataset, cfg.scale, spec, on_image=compare)
            value = float(np.mean(scores))
            passed = rule.judge(value, floor, "dB").passed
        else:
            value = evaluate(protocol, runner.run, dataset, cfg.scale, spec).mean_psnr
            passed = rule.judge(value, torch_result.mean_psnr, "dB").passed
        runner.close()
        trial = Trial(tuple(excluded), value, bool(passed), time.perf_counter() - t0, step)
        what = f"{len(tensor_ranges)} ranges replaced" if tensor_ranges else f"{len(excluded)} excluded"
        say(f"  {step}: {what} -> {value:.4f} dB, {'pass' if passed else 'FAIL'}")
        return trial

    say(f"{cfg.backend} variant and its figure")
    t0 = time.perf_counter()
    variant = variant_file(())
    bins = cfg.kl_bins or quantize.KL_HISTOGRAM_BINS
    if shared is not None:      # the variant as the check deployed it: its figure is the check's evaluation
        try:
            dv = deploy(spec, cfg.scale, backend=cfg.backend, weights=reference.weights, protocol=protocol,
                        dataset=dataset, workdir=work, export_cache=export_cache, build=False,
                        **({"kl_bins": bins} if kind == "int8" else {}))
        except DeployError as exc:
            raise DiagnoseError(str(exc)) from None
        ev = evaluation(shared, dv, protocol=protocol, dataset=dataset,
                        options=None if kind != "int8" or bins == quantize.KL_HISTOGRAM_BINS else {"kl_bins": bins})
        from_cache["before"] = ev.cache
        value = ev.result.mean_psnr
        before = Trial((), value, bool(rule.judge(value, torch_result.mean_psnr, "dB").passed),
                       time.perf_counter() - t0, "before")
    else:
        before = figure((), "before")
    t_variant = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        if kind == "int8":
            from onnxruntime.quantization.shape_inference import quant_pre_process
            reference = Path(tmp) / "reference.pre.onnx"          # the float graph quantize_static consumed
            with _quiet():
                quant_pre_process(str(fp32), str(reference), skip_symbolic_shape=True)
        else:
            reference = fp32
        ref_check = _reference_check(reference, torch_runner, inputs[0])
        say("localising: every intermediate tensor of both graphs on the protocol inputs")
        t0 = time.perf_counter()
        loc = localise(reference, variant, inputs, kind=kind, thresholds=cfg.thresholds, workdir=tmp)
        t_localise = time.perf_counter() - t0
        result: dict[str, Any] = {
            "model": spec.name, "scale": cfg.scale, "backend": cfg.backend, "precision": kind,
            "protocol": protocol.name, "dataset": dataset.name, "images": [s.name for s in dataset],
            "weights": str(weights_path) if weights_path else "random init (seed 0)",
            "reference": {"what": "onnxruntime fp32 on the float ONNX graph the variant was made from"
                                  + (" (quant_pre_process output)" if kind == "int8" else ""),
                          "torch_fp32_psnr": torch_result.mean_psnr, **ref_check},
            "variant_file": str(variant), "rule": rule_text,
            "figure": {"before": {"psnr": before.psnr, "passed": before.passed},
                       "reference_psnr": torch_result.mean_psnr if not agreement else None,
                       "floor_db": floor},
            **loc}
        repair_result = None
        t_repair = 0.0
        if repair:
            t0 = time.perf_counter()
            cands = candidate_nodes(reference, kind, variant)
            ranked = rank_candidates(loc["nodes"], cands)
            say(f"repair: {len(ranked)} candidate nodes, at most {repair_bound(len(ranked))} figure re-runs")
            seeded = {frozenset(): before}

            def judge(excluded, step):
                return seeded.pop(frozenset(excluded), None) or figure(excluded, step)
            rr = search_exclusions(ranked, judge, max_runs=cfg.max_runs)
            t_repair = time.perf_counter() - t0
            after = next((t for t in reversed(rr.trials) if frozenset(t.excluded) == frozenset(rr.excluded_nodes)),
                         None)
            if after is None or after.step != "confirm":
                after = figure(tuple(rr.excluded_nodes), "confirm")     # the re-run that proves the fix
                rr.trials.append(after)
            out_dir = Path(cfg.out_dir or work / "diagnose" / f"{spec.name}-x{cfg.scale}-{cfg.backend}")
            repair_result = {
                "excluded_nodes": rr.excluded_nodes, "excluded": len(rr.excluded_nodes), "candidates": rr.candidates,
                "option": "nodes_to_exclude" if kind == "int8" else "node_block_list",
                "before": {"psnr": before.psnr, "passed": before.passed},
                "after": {"psnr": after.psnr, "passed": after.passed},
                "passed": bool(after.passed and rr.passed), "rule": rule_text,
                "reruns": len(rr.trials), "rerun_bound": rr.bound + 1, "max_runs": cfg.max_runs,
                "bound_rule": "figure runs <= 2 + ceil(log2 n) + k + 1: before, all excluded, bisection over the "
                              "ranked prefix, refinement of the k kept nodes, and the confirming re-run",
                "search": "rank by SQNR lost at the node (gain_db), bisect the shortest passing prefix, then drop "
                          "each kept node that the figure does not need (refine)",
                "ranking": rr.ranking, "note": rr.note,
                "trials": [dataclasses.asdict(t) for t in rr.trials],
                "fix": write_fix(rr.excluded_nodes, reference, out_dir, kind) if rr.excluded_nodes else None,
                "fixed_variant_file": str(variant_file(rr.excluded_nodes)) if rr.excluded_nodes else None}
            spread = not rr.passed or len(rr.excluded_nodes) > rr.candidates / 2
            if kind == "int8" and spread:
                # the drop is spread over the graph: a per-node fix is as large as the network. Say whether
                # the calibration range is the cause (activations clipped) and try the other vamc mode once.
                first = loc["first_divergent_node"] or {}
                clipping = [n for n in loc["nodes"] if (n.get("clip_error_share") or 0) > 0.5]
                other = "max" if mode != "max" else "kl_divergence"
                alt = figure((), f"alternative calibrate_mode={other}", calibrate_mode=other)
                if mode == "kl_divergence":
                    cal = repair_result["calibration"] = _calibration_repair(
                        fp32, inputs, cfg, variant, before, figure, out_dir, mode, say)
                    if cal["passed"]:
                        repair_result["smallest_fix"] = {
                            "kind": "calibration", "nodes_in_higher_precision": 0, "psnr": cal["after"]["psnr"],
                            "text": f"the reference KL ranges ({cal['fix']['ort']['file']}): {cal['after']['psnr']:.4f} "
                                    f"dB with no node in higher precision, where the node search needs "
                                    f"{len(rr.excluded_nodes)} of {rr.candidates}"}
                repair_result["spread"] = {
                    "note": f"{len(rr.excluded_nodes)} of {rr.candidates} nodes are needed: the error is spread over "
                            f"the graph, not in a few layers. "
                            + (f"At the first divergent node ({first['node']}) {(first.get('clipped_fraction') or 0):.1%} "
                               f"of the values lie beyond the calibrated range and that clipping is "
                               f"{(first.get('clip_error_share') or 0):.0%} of its own quantisation error; "
                               if first else "No node is over the thresholds; ")
                            + f"{len(clipping)} quantized activations are clipping-dominated. "
                            f"Higher precision fixes clipping only by leaving the tensor in float; the calibration "
                            f"is the other lever (repair.calibration, and calibrate_mode={other} below).",
                    "clipping_dominated": [n["node"] for n in clipping],
                    "alternative": {"calibrate_mode": other, "psnr": alt.psnr, "passed": alt.passed,
                                    "seconds": alt.seconds}}
        result["repair"] = repair_result
        result["cost"] = {"total_s": time.perf_counter() - t_start, "variant_and_before_figure_s": t_variant,
                          "localise_s": t_localise, "repair_s": t_repair,
                          "calibration_s": ((repair_result or {}).get("calibration") or {}).get("seconds", 0.0),
                          "figure_run_s": [round(t["seconds"], 2) for t in (repair_result or {}).get("trials", [])],
                          "machine": f"{_cpu_count()} CPU cores (shared)",
                          "shared_evaluations": from_cache}
    return result


def _calibration_repair(fp32: Path, inputs, cfg: DiagnoseConfig, variant: Path, before: Trial, figure,
                        out_dir: Path, mode: str, say) -> dict[str, Any]:
    """Entropy variant whose drop is spread over the graph: compare its ranges with the reference KL
    search on the same histograms, re-run the figure with them, and search the smallest set of
    tensors that needs them (each step the real figure)."""
    from srharness import quantize
    calibration = quantize.read_entropy_calibration(quantize.entropy_ranges_path(fp32, inputs, cfg.kl_bins))
    tensors = quantized_activations(variant)
    t0 = time.perf_counter()
    reference = quantize.reference_kl_ranges({t: calibration[t] for t in tensors if t in calibration})
    table = calibration_table(calibration, tensors, reference)
    say(f"calibration: {len(table)} quantized activations, reference KL ranges in {time.perf_counter() - t0:.1f} s")
    changed = [r["tensor"] for r in sorted(table, key=lambda r: -(r["widening"] or 0.0))
               if tuple(r["reference_range"]) != tuple(r["calibrated_range"])]
    whole = figure((), "reference KL ranges, every tensor", tensor_ranges=reference)
    seeded = {frozenset(): before, frozenset(changed): whole}

    def judge(selected, step):
        return seeded.pop(frozenset(selected), None) or \
            figure((), step, tensor_ranges={t: reference[t] for t in selected})
    search = search_exclusions(changed, judge, max_runs=cfg.max_runs) if whole.passed else None
    widening = [r["widening"] for r in table if r["widening"] is not None]
    narrower = [r for r in table if (r["widening"] or 0.0) > 1.05]
    return {
        "cause": ORT_KL_NOTE,
        "method": "the reference KL threshold search (quantize.reference_kl_threshold) on the histograms this "
                  "calibration kept, same bins and quantised bins, kept inside the observed range",
        "narrower_than_reference": len(narrower), "tensors": len(table),
        "median_widening": float(np.median(widening)) if widening else None,
        "before": {"psnr": before.psnr, "passed": before.passed},
        "after": {"psnr": whole.psnr, "passed": whole.passed},
        "passed": whole.passed, "excluded_nodes": [],
        "smallest_tensor_set": None if search is None else {
            "tensors": search.excluded_nodes, "count": len(search.excluded_nodes), "of": len(changed),
            "passed": search.passed, "reruns": len(search.trials), "rerun_bound": search.bound, "note": search.note,
            "trials": [dataclasses.asdict(t) for t in search.trials]},
        "table": table,
        "fix": write_calibration_fix(reference, out_dir, mode) if whole.passed else None,
        "seconds": time.perf_counter() - t0}


def _cpu_count() -> int:
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _reference_check(reference_onnx: Path, torch_runner, x: np.ndarray) -> dict[str, Any]:
    """How far the ONNX reference is from torch fp32 on one protocol input (export equivalence)."""
    from srharness.runners.ort_runner import OrtRunner
    a = torch_runner.run(x)
    b = OrtRunner(reference_onnx).run(x)
    m = tensor_metrics(a, b)
    return {"vs_torch_max_abs": m["max_abs_error"], "vs_torch_sqnr_db": m["sqnr_db"]}


def result_digest(result: dict) -> str:
    return hashlib.sha256(json.dumps(result, sort_keys=True, default=str).encode()).hexdigest()[:12]
