"""srharness.diagnose: per-node metrics, attribution, the repair search, the fix files and the CLI.

Fast tests use a tiny random conv net exported by torch and real onnxruntime sessions / QDQ
quantization. The real VDSR run (official weights, Set5, vdsr-vacc, ort-int8-entropy) is the slow
test at the end (needs SRHARNESS_DATA_DIR)."""
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from srharness import diagnose as dg


# ------------------------------------------------------------------ metrics
def test_metrics_match_onnxruntime_sqnr_and_numpy():
    from onnxruntime.quantization.qdq_loss_debug import compute_signal_to_quantization_noice_ratio as ort_sqnr
    rng = np.random.default_rng(0)
    a = [rng.standard_normal((1, 4, 8, 8)).astype(np.float32) for _ in range(3)]
    b = [x + 0.05 * rng.standard_normal(x.shape).astype(np.float32) for x in a]
    acc = dg.ErrorAccumulator()
    for x, y in zip(a, b):
        acc.update(x, y)
    m = acc.metrics()
    fa, fb = np.concatenate([x.ravel() for x in a]).astype(np.float64), np.concatenate([y.ravel() for y in b])
    assert m["sqnr_db"] == pytest.approx(ort_sqnr(a, b), abs=1e-6)          # onnxruntime's own definition
    assert m["cosine"] == pytest.approx(fa @ fb / np.linalg.norm(fa) / np.linalg.norm(fb), rel=1e-9)
    assert m["relative_l2"] == pytest.approx(np.linalg.norm(fa - fb) / np.linalg.norm(fa), rel=1e-9)
    assert m["max_abs_error"] == pytest.approx(np.abs(fa - fb).max(), rel=1e-6)
    assert m["relative_l2"] == pytest.approx(10 ** (-m["sqnr_db"] / 20), rel=1e-9)
    assert m["elements"] == fa.size


def test_metrics_count_nan_inf_and_fp16_overflow():
    ref = np.array([1.0, 2.0, 70000.0, -1e6, 3.0], np.float32)
    var = np.array([1.0, np.nan, np.inf, -np.inf, 3.0], np.float32)
    m = dg.tensor_metrics(ref, var)
    assert (m["nan_count"], m["inf_count"], m["fp16_overflow_count"]) == (1, 2, 2)
    assert math.isfinite(m["cosine"]) and m["cosine"] == pytest.approx(1.0)   # on the finite part


def test_identical_tensors_are_perfect():
    x = np.linspace(-1, 1, 50)
    m = dg.tensor_metrics(x, x)
    assert m["cosine"] == pytest.approx(1.0) and m["relative_l2"] == 0 and m["sqnr_db"] > 150


# ------------------------------------------------------------------ a tiny real graph
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 4-conv ReLU net (torch -> ONNX), its inputs, and a copy with conv 2's weights corrupted."""
    import onnx
    import torch
    from onnx import numpy_helper
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 1, 3, padding=1)).eval()
    d = tmp_path_factory.mktemp("tiny")
    fp32 = d / "tiny.onnx"
    torch.onnx.export(net, torch.zeros(1, 1, 16, 16), str(fp32), input_names=["input"], output_names=["output"],
                      opset_version=13, dynamo=False,
                      dynamic_axes={"input": {2: "h", 3: "w"}, "output": {2: "h", 3: "w"}})
    model = onnx.load(str(fp32))
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    target = convs[1]
    inits = {t.name: t for t in model.graph.initializer}
    w = numpy_helper.to_array(inits[target.input[1]]).copy()
    w += np.random.default_rng(1).standard_normal(w.shape).astype(np.float32) * np.abs(w).max()
    inits[target.input[1]].CopyFrom(numpy_helper.from_array(w, target.input[1]))
    broken = d / "tiny.broken.onnx"
    onnx.save(model, str(broken))
    rng = np.random.default_rng(2)
    inputs = [rng.random((1, 1, 16, 16), dtype=np.float32) for _ in range(2)]
    return {"fp32": fp32, "broken": broken, "target": target.name, "convs": [c.name for c in convs],
            "inputs": inputs, "dir": d}


def test_localise_names_the_corrupted_node_as_first_and_introducing(tiny):
    # a same-precision "variant" with one layer's weights corrupted: matched by tensor name, as fp16 is
    out = dg.localise(tiny["fp32"], tiny["broken"], tiny["inputs"], kind="fp16", workdir=tiny["dir"])
    first = out["first_divergent_node"]
    assert first["node"] == tiny["target"], out["nodes"]
    assert first["origin"] == "introduced" and first["cosine"] < 0.99
    rows = {n["node"]: n for n in out["nodes"] if n["op_type"] == "Conv"}
    assert rows[tiny["convs"][0]]["cosine"] == pytest.approx(1.0, abs=1e-6)       # before the corruption: exact
    assert not rows[tiny["convs"][0]]["diverged"]
    assert out["error_pattern"]["kind"] == "accumulates" and out["error_pattern"]["reaches_output"]
    assert all(n["origin"] != "introduced" for n in out["nodes"] if n["depth"] > first["depth"] and n["diverged"]
               and n["node"] != tiny["target"])
    assert out["debug_graph_check"]["stands_in"]


def test_localise_int8_uses_onnxruntime_qdq_matching(tiny):
    from srharness import quantize
    q = quantize.to_int8(tiny["fp32"], tiny["inputs"], "max", tiny["dir"] / "tiny.int8.onnx")
    out = dg.localise(tiny["fp32"], q, tiny["inputs"], kind="int8", workdir=tiny["dir"])
    convs = [n for n in out["nodes"] if n["op_type"] == "Conv"]
    assert {n["node"] for n in convs} == set(tiny["convs"])       # QDQ tensors mapped back to the conv nodes
    assert all(n["qdq_sqnr_db"] is not None and n["weight_sqnr_db"] is not None for n in convs)
    assert all(10 < n["sqnr_db"] < 80 for n in convs)              # int8: real, finite quantisation error
    # MinMax ranges cover the calibration inputs, which are the inputs compared: rounding only, no clipping
    assert all(n["clipped_fraction"] is not None and n["clipped_fraction"] < 1e-3 for n in convs)
    assert all(n["clip_error_share"] < 1e-3 for n in convs)
    # the ReLU that QDQ folds into the zero point is not counted as quantisation error: rounding only
    assert all(n["qdq_sqnr_db"] > 25 for n in convs), [(n["node"], n["qdq_sqnr_db"]) for n in convs]
    dc = out["debug_graph_check"]
    assert dc["debug_vs_deployed_sqnr_db"] > dc["reference_vs_deployed_sqnr_db"]
    assert dg.candidate_nodes(tiny["fp32"], "int8", q) == tiny["convs"]


def test_bad_kind_and_empty_inputs_are_clear_errors(tiny):
    with pytest.raises(dg.DiagnoseError, match="int8"):
        dg.localise(tiny["fp32"], tiny["fp32"], tiny["inputs"], kind="bf16")
    with pytest.raises(dg.DiagnoseError, match="no inputs"):
        dg.localise(tiny["fp32"], tiny["fp32"], [], kind="fp16")
    with pytest.raises(dg.DiagnoseError, match="diagnosable"):
        dg.variant_kind("vacc-int8-kl")


# ------------------------------------------------------------------ the search
def _judge_needing(required: set[str], calls: list):
    def judge(excluded, step):
        calls.append(excluded)
        ok = required <= set(excluded)
        return dg.Trial(tuple(excluded), 31.0 if ok else 28.0, ok, 0.0, step)
    return judge


def test_search_finds_the_minimal_set_within_its_bound():
    ranked = [f"n{i}" for i in range(20)]
    calls = []
    r = dg.search_exclusions(ranked, _judge_needing({"n1", "n5"}, calls))
    assert r.passed and sorted(r.excluded_nodes) == ["n1", "n5"]
    assert len(calls) == len(r.trials) <= 2 + math.ceil(math.log2(20)) + 6      # prefix k = 6, refine <= k
    assert len(r.trials) <= r.bound == dg.repair_bound(20)


def test_search_reports_already_passing_and_hopeless_cases():
    r = dg.search_exclusions(["a", "b"], _judge_needing(set(), []))
    assert r.passed and r.excluded_nodes == [] and len(r.trials) == 1
    r = dg.search_exclusions(["a", "b"], _judge_needing({"zz"}, []))
    assert not r.passed and "every candidate" in r.note and len(r.trials) == 2


def test_search_respects_max_runs():
    calls = []
    r = dg.search_exclusions([f"n{i}" for i in range(64)], _judge_needing({"n3"}, calls), max_runs=4)
    assert len(calls) == 4 and r.passed and "max_runs" in r.note and "n3" in r.excluded_nodes


def test_ranking_puts_the_node_that_introduces_error_first():
    nodes = [{"node": "a", "gain_db": 0.5, "sqnr_db": 30}, {"node": "b", "gain_db": 20.0, "sqnr_db": 10},
             {"node": "c", "gain_db": None, "sqnr_db": 12}]
    assert dg.rank_candidates(nodes, ["a", "b", "c", "d"]) == ["b", "a", "c", "d"]


# ------------------------------------------------------------------ fix files and evidence
def test_fix_files_for_each_toolchain(tiny, tmp_path):
    fix = dg.write_fix([tiny["convs"][2], tiny["convs"][0]], tiny["fp32"], tmp_path, "int8")
    assert json.loads(Path(fix["ort"]["file"]).read_text()) == {"nodes_to_exclude": [tiny["convs"][2], tiny["convs"][0]]}
    assert Path(fix["atc"]["file"]).read_text().splitlines() == [tiny["convs"][2], tiny["convs"][0]]
    assert fix["vamc"]["documented"] is False and fix["vamc"]["skip_conv_layers"] == [0, 2]
    fix16 = dg.write_fix(["x"], tiny["fp32"], tmp_path / "f16", "fp16")
    assert fix16["ort"]["option"] == "node_block_list"


def test_table_and_plot_highlight_the_first_divergent_node(tiny):
    out = dg.localise(tiny["fp32"], tiny["broken"], tiny["inputs"][:1], kind="fp16", workdir=tiny["dir"],
                      check_deployed=False)
    html = dg.nodes_table_html(out["nodes"], out["first_divergent_node"])
    assert f"first divergent node: {tiny['target']}" in html and "#f8b4b4" in html
    png = dg.error_by_depth_png(out["nodes"], out["first_divergent_node"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_fp16_block_list_reaches_onnxruntime(tiny):
    import onnx
    from srharness import quantize
    path = quantize.to_fp16(tiny["fp32"], node_block_list=[tiny["convs"][1]])
    model = onnx.load(str(path))
    conv = next(n for n in model.graph.node if n.name == tiny["convs"][1])
    inits = {t.name: t for t in model.graph.initializer}
    assert inits[conv.input[1]].data_type == onnx.TensorProto.FLOAT          # kept in fp32
    other = next(n for n in model.graph.node if n.name == tiny["convs"][2])
    assert inits[other.input[1]].data_type == onnx.TensorProto.FLOAT16


# ------------------------------------------------------------------ CLI
def test_cli_refuses_what_it_cannot_diagnose(capsys):
    from srharness.cli import main
    assert main(["diagnose", "vdsr"]) == 2
    assert "--backend" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["diagnose", "vdsr", "--backend", "vacc-int8-kl"])


# ------------------------------------------------------------------ the real figure (slow)
@pytest.mark.slow
def test_vdsr_int8_entropy_repair_passes_the_guides_rule(tmp_path):
    # ~2 min on 2 quiet cores (about 55 figure re-runs), plus ~1 min once for the 2048-bin Entropy
    # calibration: opt-in, so `pytest tests` in CI stays within budget
    if os.environ.get("SRHARNESS_DIAGNOSE_VDSR") != "1":
        pytest.skip("the real VDSR repair takes ~3 min; run with SRHARNESS_DIAGNOSE_VDSR=1 -m slow")
    data = os.environ.get("SRHARNESS_DATA_DIR")
    if not data or not (Path(data) / "weights" / "vdsr").is_dir():
        pytest.skip("needs the shared data with the official VDSR weights (SRHARNESS_DATA_DIR)")
    cfg = dg.DiagnoseConfig(model="vdsr", scale=4, backend="ort-int8-entropy", protocol="vdsr-vacc", dataset="set5",
                            data_dir=data, weights="auto", out_dir=str(tmp_path))
    r = dg.diagnose(cfg, repair=True)
    assert not r["figure"]["before"]["passed"] and r["first_divergent_node"] is not None
    assert r["first_divergent_node"]["node"] == "/input/Conv" and r["debug_graph_check"]["stands_in"]
    rep = r["repair"]
    assert rep["passed"] and rep["after"]["passed"] and 0 < rep["excluded"] <= rep["candidates"]
    assert rep["reruns"] <= rep["rerun_bound"]
    if rep["excluded"] > rep["candidates"] / 2:      # measured: the KL ranges clip every activation
        assert rep["spread"]["alternative"]["calibrate_mode"] == "max" and rep["spread"]["alternative"]["passed"]
        cal = rep["calibration"]                       # ... because onnxruntime's KL search narrows every ReLU output
        assert cal["narrower_than_reference"] >= cal["tensors"] // 2 and cal["passed"] and cal["after"]["passed"]
        assert rep["smallest_fix"]["nodes_in_higher_precision"] == 0
        assert json.loads(Path(cal["fix"]["ort"]["file"]).read_text())["TensorQuantOverrides"]


def test_on_fail_hook_is_off_by_default_and_checks_its_value(monkeypatch):
    import pytest as _pytest

    class Config:
        def __init__(self, value):
            self.value = value

        def getoption(self, dest, default=None):
            return self.value
    monkeypatch.delenv("SRHARNESS_DIAGNOSE_ON_FAIL", raising=False)
    kw = dict(model="vdsr", scale=4, backend="ort-int8-entropy", protocol="vdsr-vacc", data_dir=None, weights=None)
    assert dg.on_failed_figure(Config(None), lambda v: v, **kw) is None
    assert dg.on_failed_figure(Config("localise"), lambda v: v, **{**kw, "backend": "vacc-int8-kl"}) is None
    with _pytest.raises(_pytest.UsageError, match="expected one of off, localise, repair"):
        dg.on_failed_figure(Config("everything"), lambda v: v, **kw)
    # repair mode: the before/after figures, and the calibration fix when there is one, become verdicts
    cal = {"after": {"psnr": 30.72, "passed": True}, "passed": True, "tensors": 22, "narrower_than_reference": 19,
           "table": []}
    canned = {"nodes": [], "first_divergent_node": None, "precision": "int8", "protocol": "vdsr-vacc",
              "dataset": "set5", "figure": {"reference_psnr": 30.93},
              "repair": {"before": {"psnr": 28.73, "passed": False}, "after": {"psnr": 30.92, "passed": True},
                         "passed": True, "rule": "r", "option": "nodes_to_exclude", "excluded_nodes": ["a"] * 20,
                         "excluded": 20, "candidates": 21, "reruns": 27, "calibration": cal}}
    monkeypatch.setattr(dg, "diagnose", lambda cfg, repair=False, progress=None, **shared: canned)
    recorded = []
    dg.on_failed_figure(Config("repair"), recorded.append, **kw)
    assert [(v.measured, v.passed) for v in recorded] == [(28.73, None), (30.92, True), (30.72, True)]
    assert recorded[2].conditions["excluded_nodes"] == [] and "TensorQuantOverrides" in recorded[2].conditions["option"]


def test_allure_evidence_table_plot_and_repair(tiny, monkeypatch):
    import allure
    from srharness import report
    out = dg.localise(tiny["fp32"], tiny["broken"], tiny["inputs"][:1], kind="fp16", workdir=tiny["dir"],
                      check_deployed=False)
    out["repair"] = {"excluded_nodes": [tiny["target"]], "passed": True,
                     "calibration": {"table": [{"tensor": "t0", "calibrated_range": [0, 1], "reference_range": [0, 2],
                                                "calibrated_clips": 0.02, "reference_clips": 0.001, "widening": 2.0}]}}
    attached = []
    monkeypatch.setattr(report, "_active", True)
    monkeypatch.setattr(allure, "attach", lambda body, name=None, attachment_type=None, **kw: attached.append(
        (name, attachment_type, body)))
    dg.attach_diagnosis(out, name="dg")
    kinds = {name: (t, body) for name, t, body in attached}
    assert kinds["dg: per-layer table"][0] == allure.attachment_type.HTML
    assert tiny["target"] in kinds["dg: per-layer table"][1]
    assert kinds["dg: error by depth"][1][:4] == b"\x89PNG"
    assert "dg: repair" in kinds and "dg: result" in kinds
    assert "t0" in kinds["dg: calibration ranges"][1] and "background" in kinds["dg: calibration ranges"][1]



# ------------------------------------------------------------------ calibration: the reference KL search
def _relu_histogram(bins=2048, seed=0):
    """A ReLU output's symmetric histogram: the negative half empty, a spike at 0, and a half-normal
    body with 1% of the values ten times larger (the sparse large activations SR nets carry edges in)."""
    rng = np.random.default_rng(seed)
    body = np.abs(rng.standard_normal(70_000)) * np.where(rng.random(70_000) < 0.01, 10.0, 1.0)
    x = np.concatenate([np.zeros(30_000), body])
    t = np.abs(x).max()
    return np.histogram(x, bins=bins, range=(-t, t))


def _ort_threshold(hist, edges, num_quantized_bins=128):
    from onnxruntime.quantization.calibrate import HistogramCollector
    c = HistogramCollector(method="entropy", symmetric=False, num_bins=hist.size, num_quantized_bins=num_quantized_bins,
                           percentile=99.99, scenario="same")
    lo, hi = c.get_entropy_threshold((hist, edges.astype(np.float32), np.float32(0), np.float32(edges[-1])),
                                     num_quantized_bins)
    return float(hi)


def test_reference_kl_keeps_q_zero_where_p_is_empty():
    from srharness.quantize import reference_kl_threshold
    hist, edges = _relu_histogram(bins=512)
    ours, ort = reference_kl_threshold(hist, edges), _ort_threshold(hist, edges)
    # onnxruntime spreads q over the empty negative half and picks a much narrower window
    assert ours > 2 * ort, (ours, ort)
    # where no bin is empty the two searches are the same algorithm: same threshold within a few bins
    rng = np.random.default_rng(1)
    g = rng.standard_normal(200_000)
    ghist, gedges = np.histogram(g, bins=512, range=(-np.abs(g).max(), np.abs(g).max()))
    width = gedges[1] - gedges[0]
    assert abs(reference_kl_threshold(ghist, gedges) - _ort_threshold(ghist, gedges)) <= 4 * width
    # the coarse-then-fine search (the fake vamc's, at 8001 bins) lands on the full search's answer
    # where the divergence curve is smooth
    assert reference_kl_threshold(ghist, gedges, coarse_step=16) == pytest.approx(
        reference_kl_threshold(ghist, gedges), abs=2 * width)


def test_tensor_ranges_reach_the_qdq_graph_and_the_calibration_table(tiny):
    import onnx
    from onnx import numpy_helper
    from srharness import quantize
    base = quantize.to_int8(tiny["fp32"], tiny["inputs"], "kl_divergence", kl_bins=256)
    tensors = dg.quantized_activations(base)
    relu = [t for t in tensors if "Relu" in t]
    assert tensors[0] == "input" and relu
    cal = quantize.read_entropy_calibration(quantize.entropy_ranges_path(tiny["fp32"], tiny["inputs"], 256))
    ref = quantize.reference_kl_ranges({t: cal[t] for t in tensors})
    assert all(ref[t][0] == 0.0 for t in relu)                   # a ReLU output keeps [0, t]: QDQ drops the ReLU
    table = dg.calibration_table(cal, tensors, ref)
    assert [r["tensor"] for r in table] == tensors
    for r in table:
        assert 0.0 <= r["calibrated_clips"] <= 1.0 and 0.0 <= r["reference_clips"] <= 1.0
        if (r["widening"] or 0.0) > 1.0:                         # a wider range clips less of the same data
            assert r["reference_clips"] <= r["calibrated_clips"]
    target = relu[0]
    lo, hi = 0.0, 2.0 * cal[target]["range"][1]
    q = quantize.to_int8(tiny["fp32"], tiny["inputs"], "kl_divergence", kl_bins=256, tensor_ranges={target: (lo, hi)})
    model = onnx.load(str(q))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    qn = next(n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == target)
    scale, zp = float(inits[qn.input[1]]), int(inits[qn.input[2]])
    # uint8 activations (quantize.ACTIVATION_TYPE) over [0, hi]: 256 steps from zero point 0
    assert scale == pytest.approx((hi - lo) / 255, rel=1e-5) and zp == 0
    assert target in dg.calibration_table_html(table) and target[-56:] in dg.calibration_table_text(table)
    fix = dg.write_calibration_fix({target: (lo, hi)}, tiny["dir"], "kl_divergence")
    doc = json.loads(Path(fix["ort"]["file"]).read_text())
    assert doc["TensorQuantOverrides"] == {target: [{"rmin": lo, "rmax": hi}]}


def test_diagnose_takes_the_failing_checks_own_evaluations_from_the_shared_cache(tmp_path):
    """diagnose-on-fail does not measure the torch and the variant figure again: the check that failed
    made them through the evaluation cache (srharness.eval_cache), and diagnose deploys the same way."""
    from srharness.data.datasets import load_dataset
    from srharness.deploy import deploy
    from srharness.eval_cache import EvalCache, evaluation
    from srharness.protocols import get_protocol
    cache, exports = EvalCache(tmp_path / "evaluations"), tmp_path / "exports"
    protocol, dataset = get_protocol("benchmark"), load_dataset("embedded", None, 2)
    common = {"protocol": protocol, "dataset": dataset, "export_cache": exports, "build": False}
    torch_fig = evaluation(cache, deploy("srcnn", 2, backend="torch", **common), protocol=protocol, dataset=dataset)
    variant = deploy("srcnn", 2, backend="ort-int8-minmax", workdir=tmp_path / "check", **common)
    variant_fig = evaluation(cache, variant, protocol=protocol, dataset=dataset)
    cfg = dg.DiagnoseConfig(model="srcnn", scale=2, backend="ort-int8-minmax", protocol="benchmark",
                            dataset="embedded", work_dir=str(tmp_path / "dg"))
    result = dg.diagnose(cfg, evaluations=cache, export_cache=exports)
    assert result["cost"]["shared_evaluations"] == {"torch fp32": "hit", "before": "hit"}
    assert result["figure"]["before"]["psnr"] == variant_fig.result.mean_psnr
    assert result["figure"]["reference_psnr"] == torch_fig.result.mean_psnr
    alone = dg.diagnose(cfg)                         # no cache: measured here, to the same figures
    assert alone["cost"]["shared_evaluations"] == {}
    assert alone["figure"]["before"]["psnr"] == pytest.approx(variant_fig.result.mean_psnr, abs=1e-9)
