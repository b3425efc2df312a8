"""One generic pipeline for a golden figure: measure it the way it was published, judge it with
its own rule, and end in exactly one `Verdict` carrying its `golden_id`.

    figure = figures_of(goldens, ["vdsr"])[0]             # a Golden the pipeline measures
    verdict = measure_figure(figure, FigureEnv(data_dir, weights_dir, work_dir), goldens)

For a figure (model x hardware x backend x precision x protocol x dataset x scale [x image]):
  1. the backend's runner is deployed (srharness.deploy, the one backend factory behind it):
     the figure's `backend` is a registry name, or a published spelling mapped in
     `PUBLISHED_BACKENDS` (vacc + precision + the vamc calibrate_mode of its conditions);
  2. the model gets the figure's weights (`deploy.resolve_weights`, as `--weights auto`);
  3. the dataset is evaluated under the figure's protocol at its scale (`protocols.evaluate`;
     card runners take the whole dataset in one tool run, as the guides run them);
  4. the mean (or the figure's image, or the rank-N image of a sorted table) is judged with the
     figure's rule (`Golden.judge`). A figure the guide compared with a reference
     (`compared_with`) also replays that comparison with the measured value, in `conditions`.

A figure that cannot be measured here ends in a not-judged verdict with its reason (srharness
records: `Verdict.not_judged`): reference only (rule none), no card (the hardware marker's
skip), no data, no weights, a protocol or backend srharness does not run, or too slow on this
host (with the command that measures it). Figures of other kinds (fps, latency, op-time shares,
training throughput) are judged by the perf and training checks that measure them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from srharness.golden import Golden, GoldenSet
from srharness.records import Verdict
from srharness import settings

# Metrics this pipeline measures. Everything else is some other check's figure.
ACCURACY_METRICS = ("psnr", "ssim")
MODEL_METRICS = ("params", "flops")
PIPELINE_METRICS = ACCURACY_METRICS + MODEL_METRICS

# Dataset names in published figures -> srharness dataset loaders. The protocol makes the rest
# (srcnn-ascend crops Set5 to 256x256 itself; rcan-vacc reads DIV2K's validation X2 pairs).
GOLDEN_DATASETS = {"set5": "set5", "set5-256": "set5", "div2k-valid": "div2k"}

# Published backend spellings that are not registry names: (registry backend, protocol
# parameters) or, for setups srharness does not run, the reason.
PUBLISHED_BACKENDS: dict[str, tuple[str, dict[str, Any]] | str] = {
    # bicubic in double throughout: the upstream VDSR .mat generator
    "torch-float-bicubic": ("torch", {"bicubic_rounding": "none"}),
    "vacc-vsx": "the vaststreamx python runstream (vsx_inference.py) is not a srharness backend; "
                "vamp's figures (backend vacc) are measured instead",
    "torch-npu": "torch_npu training on an Ascend 8-device box: a training figure (suites/rcan_training)",
}
# Published protocol spellings that are a registered protocol with other parameters.
PUBLISHED_PROTOCOLS: dict[str, tuple[str, dict[str, Any]]] = {}
# A figure whose model work exceeds this many multiply-accumulates on a CPU-computed backend is
# not run in the suite (about a minute on 2 shared cores; VDSR x2 on full Set5 is 3.8e11):
# it ends not judged, with the `srharness eval` command that measures it.
CPU_BUDGET_MACS = float(settings.env("SRHARNESS_FIGURE_BUDGET_MACS", 1.5e12))


class NotJudged(Exception):
    """The figure cannot be measured here; the message is the reason, one line."""


@dataclass
class FigureEnv:
    """Where a figure's inputs come from, and what measurements already made are shared."""
    data_dir: Path | None
    weights_dir: Path | None
    work_dir: Path
    export_cache: Path | None = None      # the export cache folder (default: <work_dir>/exports)
    # the shared evaluation cache (srharness.eval_cache.EvalCache; default: <work_dir>/evaluations)
    evaluations: Any = None

    def __post_init__(self):
        if self.evaluations is None:
            from srharness.eval_cache import EvalCache
            self.evaluations = EvalCache(Path(self.work_dir) / "evaluations")


# ------------------------------------------------------------------ which figures, where
def figures_of(goldens: GoldenSet, models) -> list[Golden]:
    """The figures of these models this pipeline owns (metrics in PIPELINE_METRICS), in file order."""
    models = {models} if isinstance(models, str) else set(models)
    return [g for g in goldens if g.model in models and g.metric in PIPELINE_METRICS]


def resolve_backend(g: Golden) -> tuple[str, dict[str, Any]]:
    """(registry backend name, protocol parameters) for the figure; NotJudged if it names a
    setup srharness does not run."""
    from srharness.backends import BACKENDS
    name = g.backend or "torch"
    if name == "vacc":      # the guides' vamc builds: the dtype, and for int8 the calibrate_mode
        if g.precision == "int8":
            name = "vacc-int8-kl" if "kl_divergence" in str(g.conditions.get("vamc", "")) else "vacc-int8-max"
        else:
            name = f"vacc-{g.precision or 'fp16'}"
    published = PUBLISHED_BACKENDS.get(name)
    if isinstance(published, str):
        raise NotJudged(f"backend {name}: {published}")
    if published is not None:
        return published
    if name not in BACKENDS:
        raise NotJudged(f"backend {name!r} is not registered (srharness.backends: {', '.join(BACKENDS)})")
    return name, {}


def figure_hardware(g: Golden) -> str:
    """The hardware marker of the figure's test item: the figure's own hardware where it names a
    registered one, else where its backend runs (a torch fp32 figure published on an unnamed
    "gpu" is the same computation on the CPU)."""
    from srharness.backends import get_backend
    from srharness.hardware import HARDWARE
    if g.hardware in HARDWARE:
        return g.hardware
    try:
        name, _ = resolve_backend(g)
    except NotJudged:
        return {"gpu": "cuda"}.get(g.hardware or "cpu", g.hardware or "cpu")
    return get_backend(name).hardware


def figure_check(g: Golden) -> str:
    return "accuracy" if g.metric in ACCURACY_METRICS else "export"


def _protocol(g: Golden, params: dict[str, Any]):
    from srharness.protocols import ProtocolError, get_protocol
    name, extra = g.protocol, {}
    from srharness.golden import PUBLISHED_ONLY
    if name in PUBLISHED_ONLY["protocol"] and name not in PUBLISHED_PROTOCOLS:
        # a protocol the guide names but never states (VDSR's "multi-size" torch row): no way to
        # reproduce it faithfully, so the figure is not judged, and the reason says exactly that
        raise NotJudged(f"protocol unstated: the guide publishes {g.protocol!r} without its steps, so srharness "
                        "cannot reproduce it (see the figure's notes)")
    if name in PUBLISHED_PROTOCOLS:
        name, extra = PUBLISHED_PROTOCOLS[name]
    try:
        protocol = get_protocol(name)
        merged = {**extra, **params}
        return protocol.with_params(**merged) if merged else protocol
    except ProtocolError as exc:
        raise NotJudged(f"protocol {g.protocol}: {exc}") from None


# ------------------------------------------------------------------ the pipeline
def measure_figure(g: Golden, env: FigureEnv, goldens: GoldenSet | None = None) -> Verdict:
    """Measure and judge one figure. Never raises for a figure that cannot be measured here (that
    is a not-judged verdict); a broken measurement (tool error, NaN) raises."""
    try:
        if g.rule.type == "none":
            raise NotJudged("reference only: the figure's rule is none (recorded, never judged)")
        if g.metric in MODEL_METRICS:
            return _model_figure(g)
        return _accuracy_figure(g, env, goldens)
    except NotJudged as exc:
        return not_judged(g, str(exc))


def not_judged(g: Golden, reason: str, hardware: str | None = None) -> Verdict:
    try:
        hardware = hardware or figure_hardware(g)
    except Exception:            # a registry that cannot load must not hide the reason
        hardware = g.hardware or "cpu"
    return Verdict(model=g.model, check=figure_check(g), metric=g.metric, measured=None, hardware=hardware,
                   backend=g.backend or "torch", precision=g.precision or "fp32", scale=g.scale, protocol=g.protocol,
                   dataset=g.dataset, image=g.image, golden=g.value, golden_id=g.id, rule=g.rule.describe(g.unit),
                   better=g.rule.better, unit=g.unit, not_judged=reason, notes=f"not judged: {reason}")


def _model_figure(g: Golden) -> Verdict:
    from srharness.models import build_model, get_model_spec
    spec = get_model_spec(g.model)
    if g.metric != "params" or not spec.has_torch:
        raise NotJudged(f"{g.metric} of {g.model}: no counting convention srharness can reproduce")
    model = build_model(g.model, g.scale or spec.scales[0])
    count = sum(p.numel() for p in model.parameters())
    measured = count / {"M": 1e6, "K": 1e3, "": 1.0}.get(g.unit, 1.0)
    r = g.judge(measured)
    return Verdict(model=g.model, check="export", metric=g.metric, measured=measured, hardware="cpu", backend="torch",
                   precision="fp32", scale=g.scale, golden=g.value, golden_id=g.id, rule=r.rule_text,
                   better=g.rule.better, passed=r.passed, unit=g.unit, conditions={"parameters": count}, notes=r.text)


def _accuracy_figure(g: Golden, env: FigureEnv, goldens: GoldenSet | None) -> Verdict:
    from srharness.backends import BackendUnavailable, get_backend
    from srharness.data.datasets import DatasetError, load_dataset
    from srharness.deploy import resolve_weights
    from srharness.models import get_model_spec
    spec = get_model_spec(g.model)
    scale = g.scale or spec.scales[0]
    if g.protocol is None or g.dataset is None:
        raise NotJudged(f"{g.metric} figure without a protocol or dataset: nothing to evaluate")
    backend, params = resolve_backend(g)
    protocol = _protocol(g, params)
    missing, dataset = [], None      # every missing input is named, not just the first
    if env.data_dir is None and g.dataset != "embedded":     # embedded: scikit-image's images, always here
        missing.append(f"no data: dataset {g.dataset} needs --sr-data-dir / SRHARNESS_DATA_DIR")
    else:
        try:
            dataset = load_dataset(GOLDEN_DATASETS.get(g.dataset, g.dataset), env.data_dir, scale)
        except DatasetError as exc:
            missing.append(f"no data: {exc}")
    weights = resolve_weights("auto", spec, scale, weights_dir=env.weights_dir, required=False) \
        if spec.has_torch else None
    if spec.has_torch and weights is None:
        missing.append(f"no weights: no official {g.model} x{scale} checkpoint under "
                       f"{env.weights_dir or '(no weights dir)'} (give it with --sr-weights-dir)")
    if missing:
        raise NotJudged("; ".join(missing))
    hardware = figure_hardware(g)
    command = (f"srharness eval {g.model} --scale {scale} --dataset {GOLDEN_DATASETS.get(g.dataset, g.dataset)} "
               f"--protocol {g.protocol} --weights auto --backend {backend} --data-dir {env.data_dir}")
    first = protocol.prepare(dataset.samples[0].hr(), scale, spec, name=dataset.samples[0].name,
                             sample=dataset.samples[0]) if dataset.samples else None
    if first is not None and get_backend(backend).hardware == "cpu":
        macs = spec.param_count.get(scale, 0) * first.input.shape[-1] * first.input.shape[-2] * len(dataset)
        if macs > CPU_BUDGET_MACS:
            raise NotJudged(f"too slow here: ~{macs:.1e} MACs on the CPU (budget {CPU_BUDGET_MACS:.1e}); "
                            f"measure it with `{command}`")
    try:
        deployed = _build(backend, spec, scale, weights, protocol, dataset, env)
    except BackendUnavailable as exc:
        raise NotJudged(f"backend {backend}: {exc}") from None
    # one evaluation per prepared runner, protocol and data, shared with every figure and check
    # that needs it (srharness.eval_cache; the runner builds only on a miss)
    from srharness.eval_cache import evaluation
    ev = evaluation(env.evaluations, deployed, protocol=protocol, dataset=dataset,
                    run=lambda runner: _evaluate(protocol, runner, dataset, scale, spec))
    result, info = ev.result, ev.runner
    measured, image_name = _pick(g, result)
    r = g.judge(measured)
    conditions = {"weights": str(weights) if weights else f"the ONNX file {spec.onnx}", "runner": backend,
                  "images": [s.name for s in result.images],
                  "per_image": {s.name: round(getattr(s, g.metric), 4) for s in result.images},
                  "protocol_params": {k: v for k, v in protocol.params.items()},
                  "shape": info["input_shape"] if info["hardware"] != "cpu" and info["input_shape"] else None,
                  "command": command}
    if g.image:
        conditions["image_measured"] = image_name
    if g.hardware == "gpu":
        conditions["published_on"] = "a GPU; torch fp32 is the same computation on this host"
    notes = r.text
    if g.compared_with and goldens is not None and g.compared_with in goldens:
        ref = goldens.get(g.compared_with)
        rr = g.rule.judge(measured, ref.value, g.unit)
        replay = "pass" if rr.passed else "fail"
        conditions["vs_reference"] = {"id": ref.id, "value": ref.value, "verdict": replay,
                                      "guide_verdict": g.expected_verdict, "text": rr.text}
        same = "as the guide found" if replay == g.expected_verdict else \
            f"the guide's own figure gave {g.expected_verdict}: a changed finding"
        notes += f"; against {ref.id} ({ref.value:g}): {replay}, {same}"
    return Verdict(model=g.model, check="accuracy", metric=g.metric, measured=measured, hardware=hardware,
                   backend=g.backend or backend, precision=g.precision or "fp32", scale=scale, protocol=g.protocol,
                   dataset=g.dataset, image=g.image, golden=g.value, golden_id=g.id, rule=r.rule_text,
                   better=g.rule.better, passed=r.passed, unit=g.unit, conditions=conditions, notes=notes)


def _pick(g: Golden, result) -> tuple[float, str | None]:
    """The figure's value: the mean, a named image, or the rank-N image of a sorted table."""
    values = {s.name: float(getattr(s, g.metric)) for s in result.images}
    if not g.image:
        return float(np.mean(list(values.values()))), None
    if g.image.startswith("rank-"):
        rank = int(g.image.split("-", 1)[1])
        ordered = sorted(values.items(), key=lambda kv: kv[1], reverse=g.rule.better == "higher")
        if not 1 <= rank <= len(ordered):
            raise NotJudged(f"{g.image}: the dataset has {len(ordered)} images")
        return ordered[rank - 1][1], ordered[rank - 1][0]
    if g.image not in values:
        raise NotJudged(f"no data: image {g.image!r} is not in the dataset ({', '.join(values)})")
    return values[g.image], g.image


def _build(backend: str, spec, scale: int, weights, protocol, dataset, env: FigureEnv):
    """The figure's backend deployed (srharness.deploy), its runner not yet built: int8 calibrated
    on the dataset's protocol inputs, a card compiled for the protocol's model input."""
    from srharness.deploy import deploy
    return deploy(spec, scale, backend=backend, weights=weights, protocol=protocol, dataset=dataset,
                  workdir=env.work_dir / f"{spec.name}-x{scale}-{backend}-{protocol.name}",
                  export_cache=env.export_cache or env.work_dir / "exports", build=False)


def _evaluate(protocol, runner, dataset, scale: int, spec):
    """protocols.evaluate with the runner; a card runner (run_files) takes the whole dataset in
    one tool run, as the guides' accuracy runs do, and each output is matched to its input."""
    from srharness import report
    from srharness.protocols import evaluate

    def panel(name, image, prep, score):
        to01 = 1.0 / protocol.data_range   # panels take [0,1] floats
        report.attach_image_panel(
            f"{protocol.name} x{scale} {name}", sr=np.clip(image * to01, 0, 1),
            hr=np.clip(prep.reference * to01, 0, 1),
            bicubic=None if prep.bicubic is None else np.clip(prep.bicubic * to01, 0, 1), psnr=score.psnr)
    on_image = panel if report.active() else None
    if not hasattr(runner, "run_files"):
        return evaluate(protocol, runner.run, dataset, scale, spec, on_image=on_image)
    preps = [protocol.prepare(s.hr(), scale, spec, name=s.name, sample=s) for s in dataset]
    outputs = runner.run_files([p.input for p in preps], [p.name for p in preps])
    by_input = {hashlib.sha256(np.ascontiguousarray(p.input).tobytes()).hexdigest(): o
                for p, o in zip(preps, outputs, strict=True)}

    def lookup(x):
        return by_input[hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()]
    return evaluate(protocol, lookup, dataset, scale, spec, on_image=on_image)
