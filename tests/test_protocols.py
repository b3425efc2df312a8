"""Evaluation protocols: each guide's steps, checked on small synthetic and embedded images."""
import math

import numpy as np
import pytest
import torch

from srharness import metrics
from srharness.data import colour
from srharness.data.datasets import load_dataset
from srharness.data.imresize import cv2_resize, matlab_imresize
from srharness.models import build_model, get_model_spec
from srharness.protocols import PROTOCOLS, ProtocolError, evaluate, get_protocol, run_tiled

VDSR, RDN, SR4K = get_model_spec("vdsr"), get_model_spec("rdn"), get_model_spec("rcan-sr4k-lite")


def _img(h, w):
    """A crop of a real photo, so bicubic scores are meaningful."""
    astro = load_dataset("embedded").subset(["astronaut"]).samples[0].hr()
    return np.ascontiguousarray(astro[100:100 + h, 150:150 + w])


def test_every_protocol_is_documented():
    for name, p in PROTOCOLS.items():
        c = p.conventions(2)
        assert c["guide"] and c["summary"] and c["reference"] and c["colour"], name
        if name != "benchmark":
            assert p.deviations, f"{name} must say where it departs from the benchmark"


def test_lookup_errors():
    with pytest.raises(ProtocolError, match="known: benchmark"):
        get_protocol("set5-matlab")
    with pytest.raises(ProtocolError, match="no parameter"):
        get_protocol("vdsr-vacc").with_params(crop=3)
    with pytest.raises(ProtocolError, match="y-hr"):
        get_protocol("vdsr-vacc").prepare(_img(32, 32), 2, RDN)


def test_benchmark_y_model_identity_is_bicubic():
    p = get_protocol("benchmark")
    hr = _img(50, 46)
    prep = p.prepare(hr, 3, VDSR)
    assert prep.input.shape == (1, 1, 48, 45)                     # modcropped
    image = p.finish(prep.input, prep)
    bic = matlab_imresize(matlab_imresize(hr[:48, :45], 1 / 3, rounding="final"), 3, rounding="final")
    expect = metrics.psnr(colour.matlab_y(bic), colour.matlab_y(hr[:48, :45]), crop_border=3)
    assert p.score(image, prep)["psnr"] == pytest.approx(expect, abs=1e-5)   # model input is float32


def test_benchmark_rounding_modes_differ_only_slightly():
    hr = _img(48, 48)
    y = {}
    for mode in ("per-pass", "final", "none"):
        prep = get_protocol("benchmark").with_params(bicubic_rounding=mode).prepare(hr, 4, VDSR)
        y[mode] = prep.input[0, 0] * 255
    assert 0 < np.abs(y["per-pass"] - y["final"]).max() <= 1.5   # 1 grey level, through Y and the cubic overshoot
    assert np.abs(y["none"] - y["final"]).max() <= 1.0      # LR rounding, propagated through the upscale


def test_srcnn_ascend_geometry_transpose_and_reference():
    p = get_protocol("srcnn-ascend").with_params(crop=64)
    hr = _img(80, 120)
    prep = p.prepare(hr, 2, get_model_spec("srcnn"))
    assert prep.input.shape == (1, 1, 64, 64)
    assert np.allclose(prep.input[0, 0].T, prep.reference)        # the bin is transposed
    # scored against its own bicubic input: the identity is perfect
    assert p.score(p.finish(prep.input, prep), prep)["psnr"] == math.inf
    # output not clamped: values outside [0,1] are scored as they are
    out = prep.input.copy()
    out[0, 0, 0, 0] = 1.5
    assert p.finish(out, prep).max() == pytest.approx(1.5)


def test_rdn_ascend_letterbox_and_bgr():
    p = get_protocol("rdn-ascend")
    hr = np.zeros((344, 228, 3), np.uint8)                       # woman's size (H x W)
    hr[..., 0] = 200                                             # pure red
    prep = p.prepare(hr, 2, RDN)
    nh, nw, top, left = prep.context["letterbox"]
    assert (nw, nh) == (151, 227)                                 # PROTOCOLS.md: woman -> 151 x 227
    assert prep.input.shape == (1, 3, 114, 114)
    centre = prep.input[0, :, 57, 57]
    assert centre[2] > 0.7 and centre[0] < 0.05                  # red arrives in channel 2 (BGR)
    assert prep.reference[0, 0] == pytest.approx(16.0)           # zero padding in the corner


def test_vdsr_vacc_steps():
    p = get_protocol("vdsr-vacc").with_params(size=64)
    hr = _img(96, 80)
    prep = p.prepare(hr, 4, VDSR)
    assert prep.input.shape == (1, 1, 64, 64) and prep.input.dtype == np.float32
    gt = cv2_resize(colour.opencv_ycrcb(hr), (64, 64))[..., 0]
    assert np.array_equal(prep.reference, gt)
    image = p.finish(prep.input, prep)
    assert np.array_equal(image, np.round(image))                 # vamp_eval rounds to uint8
    assert p.crop_border(2) == 4
    assert p.score(prep.reference, prep)["psnr"] == 100.0          # vamp_eval prints 100 when RMSE is 0


def test_rcan_vacc_bgr_output_and_gt_resize():
    p = get_protocol("rcan-vacc").with_params(input_hw=(24, 32))
    hr = _img(60, 70)
    prep = p.prepare(hr, 2, SR4K)
    assert prep.input.dtype == np.uint8 and prep.input.shape == (1, 3, 24, 32)
    assert prep.reference.shape == (48, 64, 3)
    # a model that returns the (RGB) ground truth scores perfectly once flipped to BGR
    rgb_gt = prep.reference[..., ::-1].transpose(2, 0, 1)[None]
    assert p.score(p.finish(rgb_gt, prep), prep)["psnr"] == math.inf


def test_rcan_train_truncates():
    p = get_protocol("rcan-train-ascend")
    prep = p.prepare(_img(40, 40), 2, RDN)
    out = np.full((1, 3, 40, 40), 100.9 / 255, np.float32)
    assert np.allclose(p.finish(out, prep), colour.matlab_y(np.full((40, 40, 3), 100, np.uint8)) / 255)
    assert p.crop_border(2) == 8


def test_evaluate_on_embedded_with_bicubic_model():
    ds = load_dataset("embedded").subset(["chelsea"])
    res = evaluate(get_protocol("benchmark"), lambda x: x, ds, 2, VDSR)
    assert res.images[0].psnr == pytest.approx(res.images[0].bicubic_psnr)
    assert 20 < res.mean_psnr < 50


def test_run_tiled_matches_full_run():
    model = build_model("rcan-sr4k-lite", 2)
    x = np.random.default_rng(0).integers(0, 256, (1, 3, 72, 100)).astype(np.float32)

    def run(t):
        with torch.inference_mode():
            return model(torch.from_numpy(t)).numpy()
    full = run(x)
    tiled = run_tiled(run, x, scale=2, tile=64, overlap=24, multiple=2)
    assert tiled.shape == full.shape
    assert np.abs(tiled - full).max() < 1e-3 * 255


def test_lr_precision_float_feeds_the_unrounded_lr_to_an_lr_input_model():
    """lr_precision: float gives a Y-channel LR-input model the float LR of the MATLAB resize (the
    MATLAB double pipeline); the default (uint8) and every built-in protocol feed the rounded LR."""
    from srharness.data.colour import matlab_y
    from srharness.data.datasets import load_dataset
    from srharness.data.imresize import matlab_imresize
    from srharness.protocols import PROTOCOLS, ProtocolError, get_protocol
    from srharness.registry import ModelSpec
    y_lr = ModelSpec(name="y-lr-user", builder=lambda scale: None, scales=(2,), reference="t", in_channels=1,
                     input_range=1.0, upsamples=True, guide_input_shape=(1, 1, 8, 8), guide_opset=13)
    sample = load_dataset("embedded").subset(["camera"]).samples[0]
    hr = sample.hr()
    hr = hr[: hr.shape[0] // 2 * 2, : hr.shape[1] // 2 * 2]
    float_lr = matlab_imresize(hr.astype(np.float64), 0.5)
    rounded = np.floor(np.clip(float_lr, 0, 255) + 0.5)
    benchmark = get_protocol("benchmark")
    matlab_float = benchmark.with_params(resize_rounding="none", lr_precision="float")
    uint8_fed = benchmark.with_params(resize_rounding="none")
    got_float = matlab_float.prepare(hr, 2, y_lr, name="camera").input[0, 0].astype(np.float64)
    got_uint8 = uint8_fed.prepare(hr, 2, y_lr, name="camera").input[0, 0].astype(np.float64)
    np.testing.assert_allclose(got_float, matlab_y(float_lr) / 255.0, atol=1e-6)
    np.testing.assert_allclose(got_uint8, matlab_y(rounded.astype(np.uint8)) / 255.0, atol=1e-6)
    assert np.abs(got_float - got_uint8).max() > 1e-4
    assert all(p.lr_precision == "uint8" for p in PROTOCOLS.values())      # existing figures unchanged
    with pytest.raises(ProtocolError, match="lr_precision"):
        benchmark.derive("float-needs-none", lr_precision="float")       # rounding final: no float LR
