"""PSNR/SSIM against scikit-image and the MATLAB/BasicSR definitions, plus properties."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from srharness import metrics
from srharness.data.colour import matlab_y


def _pair(seed=0, shape=(40, 48, 3)):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, shape).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-12, 13, shape), 0, 255).astype(np.uint8)
    return a, b


def test_psnr_vs_skimage():
    from skimage.metrics import peak_signal_noise_ratio
    a, b = _pair()
    assert metrics.psnr(a, b) == pytest.approx(peak_signal_noise_ratio(b, a, data_range=255), abs=1e-10)
    af, bf = a / 255.0, b / 255.0
    assert metrics.psnr(af, bf, data_range=1.0) == pytest.approx(peak_signal_noise_ratio(bf, af, data_range=1), abs=1e-10)


def test_psnr_basicsr_definition():
    """BasicSR calculate_psnr(img, img2, crop_border=s, test_y_channel=True) on RGB input."""
    a, b = _pair(2)
    s = 3
    ya, yb = matlab_y(a)[s:-s, s:-s], matlab_y(b)[s:-s, s:-s]
    expect = 10 * math.log10(255.0 ** 2 / np.mean((ya - yb) ** 2))
    assert metrics.psnr(a, b, crop_border=s, y_channel="matlab") == pytest.approx(expect, abs=1e-12)


def test_ssim_vs_skimage_gaussian():
    """skimage with gaussian_weights, sigma 1.5, use_sample_covariance=False is the MATLAB SSIM,
    but it averages over a border-cropped 'same' map; compare on the valid region."""
    from skimage.metrics import structural_similarity
    a, b = _pair(3, (64, 64))
    _, full = structural_similarity(a.astype(float), b.astype(float), data_range=255, gaussian_weights=True,
                                    sigma=1.5, use_sample_covariance=False, full=True)
    # skimage's truncate=3.5 gives an 11-tap window at sigma 1.5, like MATLAB's
    assert metrics.ssim(a, b) == pytest.approx(full[5:-5, 5:-5].mean(), abs=2e-3)


def test_ssim_matlab_reference_value():
    """Closed form: SSIM of an image against a constant shift c is (2 mu1 mu2 + C1)/(mu1^2+mu2^2+C1)
    averaged over windows; for a constant image pair it is exactly that ratio."""
    a = np.full((20, 20), 100.0)
    b = a + 10
    c1 = (0.01 * 255) ** 2
    expect = (2 * 100 * 110 + c1) / (100 ** 2 + 110 ** 2 + c1)
    assert metrics.ssim(a, b) == pytest.approx(expect, abs=1e-12)


def test_vamp_joint_ssim_equals_per_channel_mean():
    """The VastAI RCAN loop bug (whole image per channel) does not change the number."""
    a, b = _pair(4, (32, 36, 3))
    assert metrics.ssim(a, b, ssim_variant="vamp-joint") == pytest.approx(metrics.ssim(a, b), abs=1e-12)
    with pytest.raises(ValueError, match="ssim_variant"):
        metrics.ssim(a, b, ssim_variant="fast")


def test_identical_and_errors():
    a, _ = _pair()
    assert metrics.psnr(a, a) == math.inf
    assert metrics.psnr(a, a, identical=100.0) == 100.0
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.psnr(a, a[1:])
    with pytest.raises(ValueError, match="crop_border"):
        metrics.psnr(a, a, crop_border=30)
    with pytest.raises(ValueError, match="11x11"):
        metrics.ssim(a[:10, :10], a[:10, :10])


images = arrays(np.uint8, st.tuples(st.integers(19, 28), st.integers(19, 28)), elements=st.integers(0, 255))


@settings(max_examples=30, deadline=None)
@given(images, st.integers(0, 255), st.integers(0, 4))
def test_properties(img, shift, border):
    other = ((img.astype(int) + shift) % 256).astype(np.uint8)
    # symmetry
    assert metrics.psnr(img, other, crop_border=border) == metrics.psnr(other, img, crop_border=border)
    assert metrics.ssim(img, other, crop_border=border) == pytest.approx(metrics.ssim(other, img, crop_border=border))
    # crop invariance: crop_border=k is the same as scoring the cropped arrays
    if border:
        inner = (slice(border, -border), slice(border, -border))
        assert metrics.psnr(img, other, crop_border=border) == metrics.psnr(img[inner], other[inner])
    # identical images
    assert metrics.psnr(img, img) == math.inf
    assert metrics.ssim(img, img) == pytest.approx(1.0)


# ---- scikit-image cores vs the hand-written BasicSR formulas they replaced, on Set5
def _basicsr_psnr(a, b, data_range):
    return 10 * math.log10(data_range ** 2 / np.mean((a - b) ** 2))


def _basicsr_ssim(a, b, data_range):
    """The MATLAB / BasicSR SSIM as srharness computed it before scikit-image (valid filtering)."""
    from scipy.signal import fftconvolve
    ax = np.arange(11) - 5
    g = np.exp(-(ax ** 2) / (2 * 1.5 ** 2))
    g /= g.sum()
    w = np.outer(g, g)

    def one(x, y):
        f = lambda z: fftconvolve(z, w, mode="valid")   # noqa: E731
        c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
        m1, m2 = f(x), f(y)
        s1, s2, s12 = f(x * x) - m1 * m1, f(y * y) - m2 * m2, f(x * y) - m1 * m2
        return (((2 * m1 * m2 + c1) * (2 * s12 + c2)) / ((m1 * m1 + m2 * m2 + c1) * (s1 + s2 + c2))).mean()
    if a.ndim == 2:
        return one(a, b)
    return np.mean([one(a[..., c], b[..., c]) for c in range(a.shape[2])])


def _set5_pairs():
    import os
    from pathlib import Path

    from srharness.data.datasets import as_rgb, read_image
    data = Path(os.environ.get("SRHARNESS_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
    hr_dir, up_dir = data / "set5" / "hr", data / "set5" / "bicubic_up_x4"
    if not up_dir.is_dir():
        pytest.skip(f"needs Set5 (hr/ and bicubic_up_x4/) under {data}: set SRHARNESS_DATA_DIR")
    for hr in sorted(hr_dir.glob("*_GT.bmp")):
        yield hr.stem, as_rgb(read_image(hr)), as_rgb(read_image(up_dir / f"{hr.stem}_scale_4.bmp"))


@pytest.mark.parametrize("y_channel, crop, data_range", [("matlab", 4, 255.0), ("y256", 4, 255.0),
                                                         (None, 0, 255.0), (None, 4, 1.0)])
def test_skimage_cores_equal_the_hand_written_figures_on_set5(y_channel, crop, data_range):
    """Every Set5 x4 bicubic figure: PSNR to 1e-10 dB and SSIM to 1e-12, on Y and RGB, on [0,255]
    and [0,1]: the switch to scikit-image moves no published figure."""
    from srharness.metrics import _pair
    n = 0
    for name, hr, up in _set5_pairs():
        img, ref = up * (data_range / 255.0), hr * (data_range / 255.0)
        a, b = _pair(img, ref, crop, y_channel)     # the conventions (ours) before either core
        kw = {"crop_border": crop, "y_channel": y_channel, "data_range": data_range}
        assert abs(metrics.psnr(img, ref, **kw) - _basicsr_psnr(a, b, data_range)) < 1e-10, name
        assert abs(metrics.ssim(img, ref, **kw) - _basicsr_ssim(a, b, data_range)) < 1e-12, name
        n += 1
    assert n == 5
