"""The shared evaluation cache (srharness.eval_cache): one evaluation per inputs per machine,
recomputed whenever an input changes (a protocol field, the weights file, the ONNX file, the
calibration set, the data), one computation per key across processes, and calibrations kept
once per machine (srharness.quantize.use_cache)."""
import json
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch

from srharness.data.datasets import load_dataset
from srharness.eval_cache import EvalCache, evaluation
from srharness.models import build_model, get_model_spec
from srharness.protocols import evaluate, get_protocol

MODEL, SCALE = "srcnn", 2


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """SRCNN on one embedded photo, with its weights saved as a checkpoint file."""
    folder = tmp_path_factory.mktemp("eval-cache")
    weights = folder / "srcnn.pth"
    torch.save(build_model(MODEL, SCALE).state_dict(), weights)
    dataset = load_dataset("embedded").subset(["camera"])
    return {"weights": weights, "dataset": dataset, "spec": get_model_spec(MODEL),
            "protocol": get_protocol("srcnn-yjn870")}


def _evaluate(cache, inputs, calls, protocol=None, weights=None):
    from srharness.deploy import deploy
    protocol = protocol or inputs["protocol"]
    d = deploy(MODEL, SCALE, backend="torch", weights=weights or inputs["weights"], build=False)

    def run(runner):
        calls.append(d.weights)
        return evaluate(protocol, runner.run, inputs["dataset"], SCALE, inputs["spec"])
    return evaluation(cache, d, protocol=protocol, dataset=inputs["dataset"], run=run)


def test_one_evaluation_shared_and_a_changed_protocol_field_or_weights_file_recomputed(tmp_path, inputs):
    calls = []
    first = _evaluate(EvalCache(tmp_path), inputs, calls)
    assert first.cache == "miss" and len(calls) == 1
    # another session or xdist worker: a fresh cache object on the same folder
    again = _evaluate(EvalCache(tmp_path), inputs, calls)
    assert again.cache == "hit" and len(calls) == 1 and again.result.mean_psnr == first.result.mean_psnr

    # one protocol field changed: its own evaluation, another figure
    rounded = inputs["protocol"].with_params(quantisation="round")
    other = _evaluate(EvalCache(tmp_path), inputs, calls, protocol=rounded)
    assert other.cache == "miss" and len(calls) == 2 and other.key != first.key

    # the weights file rewritten in place (same path): recomputed, and the score follows the bytes
    sd = torch.load(inputs["weights"])
    changed = tmp_path / "changed.pth"
    torch.save({k: v * 0.5 for k, v in sd.items()}, changed)
    inputs["weights"].write_bytes(changed.read_bytes())
    try:
        redone = _evaluate(EvalCache(tmp_path), inputs, calls)
        assert redone.cache == "miss" and len(calls) == 3 and redone.key != first.key
        assert redone.result.mean_psnr != first.result.mean_psnr
    finally:
        torch.save(sd, inputs["weights"])
    assert _evaluate(EvalCache(tmp_path), inputs, calls).cache == "hit" and len(calls) == 3


def test_calibration_onnx_options_and_data_are_in_the_key(tmp_path, inputs):
    from srharness.deploy import Deployed
    from srharness.eval_cache import evaluation_key
    spec, protocol, dataset = inputs["spec"], inputs["protocol"], inputs["dataset"]
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    a.write_bytes(b"onnx a")
    b.write_bytes(b"onnx b")

    def key(onnx=a, calibration="c1", backend="ort-int8-entropy", data=dataset, options={"kl_bins": 512}):  # noqa: B006 - read, never mutated
        d = Deployed(runner=None, spec=spec, scale=SCALE, backend=backend, weights=inputs["weights"], onnx=onnx,
                     calibration_digest=calibration)
        return evaluation_key(d, protocol=protocol, dataset=data, options=options)
    assert key() == key()
    assert key(onnx=b) != key()
    assert key(calibration="c2") != key()
    assert key(options={"kl_bins": 2048}) != key()
    assert key(backend="ort-int8-minmax") != key()
    assert key(data=load_dataset("embedded").subset(["astronaut"])) != key()


def test_an_unreadable_entry_is_recomputed(tmp_path, inputs):
    calls = []
    first = _evaluate(EvalCache(tmp_path), inputs, calls)
    entry = next(tmp_path.glob("*.json"))
    entry.write_text('{"format": 1, "result": ')               # a foreign or interrupted write
    r = _evaluate(EvalCache(tmp_path), inputs, calls)
    assert r.cache == "repaired" and len(calls) == 2 and r.result.mean_psnr == first.result.mean_psnr
    assert json.loads(entry.read_text())["result"]["images"][0]["name"] == "camera"


def _worker(folder, marker_dir, out):
    """One xdist worker: evaluates the shared key, counting its computations in marker_dir."""
    import os
    import time
    from srharness.deploy import deploy
    from srharness.eval_cache import EvalCache, evaluation
    from srharness.protocols import EvalResult, ImageScore

    def run(runner):
        (Path(marker_dir) / f"computed-{os.getpid()}").write_text("")
        time.sleep(1.0)                      # long enough for the other worker to ask meanwhile
        return EvalResult("srcnn-yjn870", "embedded", SCALE, [ImageScore("camera", 30.0, 0.9)])
    dataset = load_dataset("embedded").subset(["camera"])
    ev = evaluation(EvalCache(Path(folder)), deploy(MODEL, SCALE, backend="torch", build=False),
                    protocol=get_protocol("srcnn-yjn870"), dataset=dataset, run=run)
    Path(out).write_text(ev.cache)


def test_two_workers_compute_one_entry_once(tmp_path, monkeypatch):
    # spawned children import this module by its name (tests.test_eval_cache) with the parent's
    # sys.path, which pytest's importlib mode leaves without the clone's root
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    ctx = multiprocessing.get_context("spawn")
    markers = tmp_path / "markers"
    markers.mkdir()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path / "cache"), str(markers), str(tmp_path / f"out{i}")))
             for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert len(list(markers.iterdir())) == 1
    assert sorted((tmp_path / f"out{i}").read_text() for i in range(2)) == ["hit", "miss"]


def test_int8_calibrates_once_per_machine_whatever_the_output_path(tmp_path, monkeypatch):
    """Two int8 variants of the same fp32 file and calibration set, asked for at two tmp paths
    (two tests): the second is a copy of the first, not a second calibration; a changed
    calibration set calibrates again."""
    from onnxruntime.quantization import calibrate

    from srharness import quantize
    from srharness.export import export_onnx
    fp32 = export_onnx(MODEL, tmp_path / "srcnn.onnx", scale=SCALE, opset=13, shape=(16, 16), dynamic=True).path
    rng = np.random.default_rng(0)
    calib = [rng.random((1, 1, 16, 16), dtype=np.float32) for _ in range(2)]
    collected = []
    real = calibrate.MinMaxCalibrater.collect_data
    monkeypatch.setattr(calibrate.MinMaxCalibrater, "collect_data",
                        lambda self, reader: (collected.append(1), real(self, reader))[1])
    monkeypatch.setattr(quantize, "_CACHE_DIR", None)
    quantize.use_cache(tmp_path / "calibration")
    a = quantize.to_int8(fp32, calib, "max", tmp_path / "t1" / "m.onnx")
    b = quantize.to_int8(fp32, calib, "max", tmp_path / "t2" / "m.onnx")
    assert len(collected) == 1 and a.read_bytes() == b.read_bytes()
    quantize.to_int8(fp32, [calib[0] * 0.5], "max", tmp_path / "t3" / "m.onnx")
    assert len(collected) == 2
    # the same model as without the machine cache (ranges and quantization unchanged)
    quantize.use_cache(None)
    plain = quantize.to_int8(fp32, calib, "max", tmp_path / "plain" / "m.onnx")
    assert plain.read_bytes() == a.read_bytes()
