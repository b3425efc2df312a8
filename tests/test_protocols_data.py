"""Protocols as data (issue 9): the guide protocols re-expressed as typed fields give the figures
recorded from the old prose-and-lambda implementation bit for bit; protocols declared in YAML;
Y-channel models that take the LR image and upsample themselves (ESPCN-like); a dataset's own
LR files; int8 calibration on images of different sizes."""
import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from srharness import metrics
from srharness.data import colour
from srharness.data.datasets import Dataset, Sample, load_dataset
from srharness.data.imresize import matlab_imresize, pil_bicubic
from srharness.protocols import (PROTOCOLS, Protocol, ProtocolError, default_protocol, evaluate, get_protocol,
                                 load_protocol, load_protocols, register_protocol)

FIGURES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "protocol_figures"


def _load_cases():
    spec = importlib.util.spec_from_file_location("protocol_figure_cases", FIGURES_DIR / "cases.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cases = _load_cases()
RECORDED = json.loads((FIGURES_DIR / "figures.json").read_text())
CORE_TOLERANCE = 1e-10


def _assert_case_unchanged(case, data_dir=None) -> int:
    """Figures equal to CORE_TOLERANCE, and the model input,
    reference and finished image byte-identical. Returns the number of figures compared."""
    key = cases.case_key(*case)
    want = RECORDED[key]
    rows = cases.run_case(*case, data_dir=data_dir)
    assert sorted(rows) == sorted(want), key
    n = 0
    for image, row in rows.items():
        for k in ("psnr", "ssim", "bicubic_psnr"):
            w = want[image][k]
            w = float(w) if isinstance(w, str) else w
            # Equal to 1e-10 (dB for PSNR): since issue 21 the PSNR/SSIM cores are scikit-image's, the
            # same formulas in another float order (1e-14 apart); geometry and colour stay byte-exact.
            assert row[k] == w or abs(row[k] - w) <= CORE_TOLERANCE, f"{key} {image} {k}: {row[k]!r} != recorded {w!r}"
            n += 1
        for k in ("input", "reference", "image"):
            assert row[k] == want[image][k], f"{key} {image}: the {k} array differs from the recorded one"
    return n


def _one_case_per_protocol():
    seen = {}
    for protocol, params, model, scales in cases.FAST:
        seen.setdefault(protocol, (protocol, params, model, scales[0], "stand-in", "embedded-crops"))
    return list(seen.values())


@pytest.mark.parametrize("case", _one_case_per_protocol(), ids=lambda c: c[0])
def test_guide_protocol_figures_unchanged(case):
    assert _assert_case_unchanged(case) > 0


@pytest.mark.slow
def test_all_recorded_stand_in_figures_unchanged(sr_data_dir):
    """Every stand-in case: 29 on embedded crops and, with the shared data, 20 on Set5/SelfExSR.
    The 6 official-VDSR cases (minutes on 2 cores) are checked by
    `python fixtures/protocol_figures/cases.py check --data-dir ../shared/data`."""
    n = 0
    for case in cases.all_cases(with_set5=sr_data_dir is not None, with_weights=False):
        n += _assert_case_unchanged(case, data_dir=str(sr_data_dir) if sr_data_dir else None)
    assert n >= 261


def test_every_builtin_protocol_is_recorded():
    from srharness.protocols import BUILTIN_PROTOCOLS
    recorded = {k.split("|")[1].split("[")[0] for k in RECORDED}
    assert set(BUILTIN_PROTOCOLS) <= recorded
    assert {c[0] for c in _one_case_per_protocol()} == set(BUILTIN_PROTOCOLS) - {"benchmark-bmp-inputs"}


# ------------------------------------------------------------------ computed words
def test_deviations_are_computed_from_fields():
    p = get_protocol("benchmark").derive("bench-y256", y_convention="y256")
    assert len(p.deviations) == 1 and "64.738" in p.deviations[0] and "benchmark:" in p.deviations[0]
    assert "y256" in p.summary and "Y256" in p.colour
    q = p.derive("bench-y256-shave0", shave=0)
    assert len(q.deviations) == 2 and any(d.startswith("border shave: none") for d in q.deviations)
    assert get_protocol("benchmark").deviations == ()
    # the conventions carry the fields themselves, for machines
    assert get_protocol("vdsr-vacc").conventions(4)["fields"]["input_stretch"] == (256, 256)


def test_protocol_in_python_and_invalid_combinations():
    p = Protocol("rgb-at-hr", guide="test", models=("rgb-hr",), metric_colour="rgb")
    spec = SimpleNamespace(name="rgb-hr-net", in_channels=3, upsamples=False, input_range=1.0)
    prep = p.prepare(cases.crops_dataset().samples[0].hr(), 2, spec)
    assert prep.input.shape == (1, 3, 130, 172)                     # bicubic RGB at the modcropped HR size
    assert p.score(p.finish(prep.input, prep), prep)["psnr"] == pytest.approx(prep_bicubic_psnr(p, prep), abs=1e-9)
    with pytest.raises(ProtocolError, match="metric_colour: rgb compares RGB images"):
        Protocol("bad", models=("y-hr",), metric_colour="rgb")
    with pytest.raises(ProtocolError, match="centre_crop and letterbox exclude each other"):
        Protocol("bad", centre_crop=64, letterbox=64)


def prep_bicubic_psnr(p, prep):
    return metrics.psnr(np.round(prep.bicubic), prep.reference, crop_border=p.crop_border(2))


def test_with_params_old_names_map_to_fields():
    assert get_protocol("vdsr-vacc").with_params(size=64).input_stretch == (64, 64)
    assert get_protocol("vdsr-vacc").with_params(round=False).quantisation == "clip"
    assert get_protocol("srcnn-ascend").with_params(clamp=True).quantisation == "clip"
    assert get_protocol("benchmark").with_params(bicubic_from="dataset").bicubic_source == "dataset"
    assert get_protocol("rcan-vacc").with_params(input_hw=(24, 32)).input_stretch == (24, 32)
    with pytest.raises(ProtocolError, match="no parameter"):
        get_protocol("rdn-yjn870").with_params(size=64)


def test_default_protocol_reads_the_model_spec(monkeypatch):
    import srharness.models as models
    assert default_protocol("vdsr") == "vdsr-vacc" and default_protocol("rdn") == "rdn-ascend"
    real = models.get_model_spec
    monkeypatch.setattr(models, "get_model_spec", lambda n: SimpleNamespace(guide_protocol="rdn-yjn870")
                        if n == "my-net" else real(n))
    assert default_protocol("my-net") == "rdn-yjn870"


# ------------------------------------------------------------------ YAML
EXAMPLE = """\
name: espcn-y
extends: benchmark
guide: "my team's eval.py: Y of the PIL-bicubic LR in, Y out"
models: [y-lr]
resize: pil-bicubic
y_convention: y256
shave: scale+1
quantisation: round
"""


def test_yaml_protocol_loads_and_registers(tmp_path):
    path = tmp_path / "espcn.yaml"
    path.write_text(EXAMPLE)
    p = load_protocol(path)
    assert (p.models, p.resize, p.y_convention, p.crop_border(3), p.quantisation) == \
        (("y-lr",), "pil-bicubic", "y256", 4, "round")
    assert p.modcrop == "crop" and p.metric_colour == "y"                   # the rest from `extends`
    assert any("PIL BICUBIC" in d for d in p.deviations)
    try:
        register_protocol(p)
        register_protocol(p)                                   # the same protocol again: a no-op
        assert get_protocol("espcn-y") is p
        with pytest.raises(ProtocolError, match="already registered"):
            register_protocol(p.derive("espcn-y", shave=0))
        assert get_protocol(str(path)) == p                    # --protocol FILE.yaml
    finally:
        PROTOCOLS.pop("espcn-y", None)
    with pytest.raises(ProtocolError, match="built in"):
        register_protocol(get_protocol("benchmark").derive("benchmark", shave=0), replace=True)


def test_yaml_several_protocols_and_no_extends(tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text("protocols:\n  - name: a\n    data_range: 1\n  - name: b\n    extends: srcnn-yjn870\n"
                    "    identical_psnr: 100\n    input_stretch: [64, 64]\n")
    a, b = load_protocols(path)
    assert a.data_range == 1.0 and a.resize == "matlab"                   # defaults = benchmark's values
    assert b.identical_psnr == 100.0 and b.input_stretch == (64, 64) and b.score_against == "bicubic-input"
    with pytest.raises(ProtocolError, match="holds 2 protocols"):
        load_protocol(path)


@pytest.mark.parametrize("text, expect", [
    ("name: x\nresise: pil-bicubic\n", "unknown key 'resise' (did you mean 'resize'?)"),
    ("name: x\nresize: bicubic\n", "key 'resize': 'bicubic' not allowed; allowed: matlab, pil-bicubic"),
    ("name: x\nmodels: [y-lr, rgbb]\n", "'rgbb' is not a model kind"),
    ("name: x\nshave: scale+x\n", "key 'shave'"),
    ("name: x\nextends: benchmrk\n", "did you mean 'benchmark'"),
    ("name: x\nmodels: [y-hr]\nmetric_colour: bgr\n", "key 'metric_colour'"),
    ("guide: no name\n", "key 'name' is required"),
    ("name: x\nquantisation: [clip]\n", "key 'quantisation'"),
    ("name: [x\n", "not valid YAML"),
    ("", "the file is empty"),
])
def test_yaml_errors_name_file_key_and_allowed_values(tmp_path, text, expect):
    path = tmp_path / "bad_protocol.yaml"
    path.write_text(text)
    with pytest.raises(ProtocolError) as exc:
        load_protocols(path)
    assert "bad_protocol.yaml" in str(exc.value) and expect in str(exc.value)


# ------------------------------------------------------------------ Y-channel LR-input models
class NearestESPCN(torch.nn.Module):
    """ESPCN's shape (conv to s^2 planes, PixelShuffle) with fixed weights: every output
    sub-pixel copies its LR pixel, i.e. nearest-neighbour upsampling of the Y plane."""

    def __init__(self, scale):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, scale * scale, 3, padding=1, bias=False)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[:, 0, 1, 1] = 1.0
        self.shuffle = torch.nn.PixelShuffle(scale)

    def forward(self, x):
        return self.shuffle(self.conv(x))


ESPCN_SPEC = SimpleNamespace(name="nearest-espcn", in_channels=1, upsamples=True, input_range=1.0)


def _run_torch(model):
    def run(x):
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()
    return run


def _nearest(y, s):
    return np.repeat(np.repeat(y, s, axis=0), s, axis=1)


def test_y_lr_model_under_benchmark_and_yjn870_protocols():
    """Y of the LR in, Y of the SR out, scored on Y: each figure equals the same steps done by hand."""
    scale = 3
    ds = cases.crops_dataset().subset(["chelsea", "camera"])
    model = _run_torch(NearestESPCN(scale))
    for protocol in ("benchmark", "rdn-yjn870", "srcnn-yjn870"):
        result = evaluate(get_protocol(protocol), model, ds, scale, ESPCN_SPEC)
        for sample, got in zip(ds, result.images):
            hr = sample.hr()
            h, w = hr.shape[:2]
            if protocol == "benchmark":
                img = hr[: h - h % scale, : w - w % scale]
                lr = matlab_imresize(img, 1 / scale, rounding="final")
                y_lr, ref, shave, rng = colour.matlab_y(lr), colour.matlab_y(img), scale, 255.0
            else:
                img = pil_bicubic(hr, ((w // scale) * scale, (h // scale) * scale))
                lr = pil_bicubic(img, (w // scale, h // scale))
                y_lr, ref, shave, rng = colour.y256(lr), colour.y256(img), scale, 255.0
                if protocol == "srcnn-yjn870":   # scored against the bicubic input, on [0, 1], no shave
                    bic = pil_bicubic(lr, (img.shape[1], img.shape[0]))
                    ref = np.float32(colour.y256(bic) / 255.0).astype(np.float64)
                    shave, rng = 0, 1.0
            sr = _nearest(np.float32(y_lr / 255.0), scale).astype(np.float64)
            out = np.clip(sr * rng, 0, rng)
            expect = metrics.psnr(out, ref, data_range=rng, crop_border=shave)
            assert got.psnr == pytest.approx(expect, abs=1e-9), (protocol, sample.name)
            assert 15 < got.psnr < 40


def test_y_lr_model_refused_clearly_where_the_guide_has_no_such_input():
    hr = cases.crops_dataset().samples[0].hr()
    with pytest.raises(ProtocolError, match=r"nearest-espcn is y-lr.*protocols for y-lr: benchmark, srcnn-yjn870, "
                                            r"rdn-yjn870"):
        get_protocol("vdsr-vacc").prepare(hr, 2, ESPCN_SPEC)


def test_wrong_output_size_is_a_protocol_error_not_a_traceback():
    p = get_protocol("benchmark")
    prep = p.prepare(cases.crops_dataset().samples[0].hr(), 2, ESPCN_SPEC)
    with pytest.raises(ProtocolError, match="the model output gives"):
        p.score(p.finish(prep.input, prep), prep)                  # an 'SR' that did not upsample


# ------------------------------------------------------------------ the dataset's own LR files
RGB_SPEC = SimpleNamespace(name="rgb-net", in_channels=3, upsamples=True, input_range=1.0)
YHR_SPEC = SimpleNamespace(name="y-net", in_channels=1, upsamples=False, input_range=1.0)


def _pair_dataset(lr_shape=None):
    hr = cases.crops_dataset().samples[2].hr()[:120, :120]           # 120 x 120, x4 -> 30 x 30
    lr = np.random.default_rng(1).integers(0, 256, lr_shape or (30, 30, 3)).astype(np.uint8)
    return Dataset("pairs", "mem", [Sample("p", lambda: hr, lambda: lr)], 4), hr, lr


def test_benchmark_takes_the_datasets_lr_files():
    ds, hr, lr = _pair_dataset()
    s = ds.samples[0]
    p = get_protocol("benchmark")
    prep = p.prepare(hr, 4, RGB_SPEC, name="p", sample=s)
    assert prep.context["own_lr"] and np.array_equal(prep.input, (lr.astype(np.float32) / 255.0).transpose(2, 0, 1)[None])
    y = p.prepare(hr, 4, ESPCN_SPEC, name="p", sample=s)
    assert np.array_equal(y.input[0, 0], np.float32(colour.matlab_y(lr) / 255.0))
    yhr = p.prepare(hr, 4, YHR_SPEC, name="p", sample=s)           # an HR-size model: bicubic of that LR
    bic = matlab_imresize(lr, 4, rounding="final")
    assert np.array_equal(yhr.input[0, 0], np.float32(colour.matlab_y(bic) / 255.0))
    # the yjn870 scripts make their own LR from HR: the field says so, the file is not used
    assert get_protocol("rdn-yjn870").lr_source == "resize"
    assert not get_protocol("rdn-yjn870").prepare(hr, 4, RGB_SPEC, name="p", sample=s).context["own_lr"]
    bad, hr, _ = _pair_dataset((31, 30, 3))
    with pytest.raises(ProtocolError, match="does not belong to this HR"):
        p.prepare(hr, 4, RGB_SPEC, name="p", sample=bad.samples[0])


def test_selfexsr_lr_files_are_used(sr_data_dir):
    if sr_data_dir is None:
        pytest.skip("needs SRHARNESS_DATA_DIR (SelfExSR Set5 pairs)")
    ds = load_dataset("selfexsr", sr_data_dir, 4).subset(["bird"])
    s = ds.samples[0]
    prep = get_protocol("benchmark").prepare(s.hr(), 4, RGB_SPEC, name="bird", sample=s)
    assert prep.context["own_lr"]
    assert np.array_equal(prep.input, (s.lr().astype(np.float32) / 255.0).transpose(2, 0, 1)[None])


# ------------------------------------------------------------------ int8 calibration, mixed sizes
def _tiny_conv_onnx(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.normal(0, 0.5, (4, 1, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.5, (1, 4, 3, 3)).astype(np.float32), "w2")
    nodes = [helper.make_node("Conv", ["x", "w1"], ["h"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Conv", ["r", "w2"], ["y"], pads=[1, 1, 1, 1])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, "H", "W"])], [w1, w2])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


@pytest.mark.parametrize("mode", ["kl_divergence", "max"])
def test_int8_calibration_on_images_of_different_sizes(tmp_path, mode):
    """The benchmark protocol keeps each image's size: Entropy calibration used to raise
    onnxruntime's 'inhomogeneous shape'."""
    import onnxruntime as ort
    from srharness import quantize
    fp32 = _tiny_conv_onnx(tmp_path / "tiny.onnx")
    rng = np.random.default_rng(2)
    calib = [rng.random((1, 1, 20, 24), np.float32), rng.random((1, 1, 31, 17), np.float32),
             rng.random((1, 1, 20, 24), np.float32)]
    q = quantize.to_int8(fp32, calib, mode, kl_bins=256)
    sess = ort.InferenceSession(str(q), providers=["CPUExecutionProvider"])
    ref = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    for x in calib[:2]:
        a, b = sess.run(None, {"x": x})[0], ref.run(None, {"x": x})[0]
        assert a.shape == b.shape and metrics.psnr(a[0, 0], b[0, 0], data_range=float(np.ptp(b))) > 25


def test_calibration_groups_inputs_by_shape():
    from srharness.quantize import ProtocolCalibrationReader
    xs = [np.zeros((1, 1, 4, 5), np.float32), np.zeros((1, 1, 6, 5), np.float32), np.ones((1, 1, 4, 5), np.float32)]
    groups = ProtocolCalibrationReader("x", xs).by_shape()
    assert [len(g._inputs) for g in groups] == [2, 1]
    assert groups[0].get_next()["x"].shape == (1, 1, 4, 5)


# ------------------------------------------------------------------ through the CLI
def test_cli_eval_with_a_yaml_protocol(tmp_path, capsys):
    from srharness.cli import main
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nextends: srcnn-yjn870\nshave: 2\n")
    rc = main(["eval", "srcnn", "--scale", "2", "--dataset", "embedded", "--images", "chelsea",
               "--protocol", str(path), "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["conventions"]["protocol"] == "mine" and "mine.yaml" in out["conventions"]["guide"]
    assert any(d.startswith("border shave: 2 px") for d in out["conventions"]["deviations"])
    path.write_text("name: mine\nextends: srcnn-yjn870\nshave: two\n")
    assert main(["eval", "srcnn", "--dataset", "embedded", "--protocol", str(path)]) == 2
    err = capsys.readouterr().err
    assert "mine.yaml" in err and "key 'shave'" in err


def test_cli_eval_y_lr_model_registered_by_a_user(capsys):
    """A user's ESPCN-like model (Y of LR in, upsamples itself) through `srharness eval`."""
    registry = pytest.importorskip("srharness.registry")
    if not hasattr(registry, "register_model"):
        pytest.skip("srharness.registry.register_model not available")
    from srharness.cli import main
    spec = registry.ModelSpec(name="test-nearest-espcn", builder=lambda s: NearestESPCN(s), scales=(2, 3),
                              reference="user model", in_channels=1, input_range=1.0, upsamples=True,
                              guide_input_shape=(1, 1, 32, 32), guide_opset=13)
    registry.register_model(spec)
    try:
        rc = main(["eval", "test-nearest-espcn", "--scale", "3", "--dataset", "embedded", "--images", "chelsea",
                   "--protocol", "benchmark", "--json"])
        assert rc == 0
        out = json.loads(capsys.readouterr().out)
        assert 20 < out["mean_psnr"] < 40                      # nearest-neighbour upsampling of Y
    finally:
        del registry.MODELS["test-nearest-espcn"]
