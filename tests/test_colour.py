"""Colour conversions against MATLAB's own rgb2ycbcr output (im_gt_y in the VDSR .mat files)."""
import numpy as np
import pytest

from srharness.data import colour
from srharness.data.datasets import load_dataset


def test_matlab_y_matches_mat_files(sr_data_dir):
    if sr_data_dir is None:
        pytest.skip("needs the VDSR .mat files: set SRHARNESS_DATA_DIR or --sr-data-dir")
    n = 0
    for scale in (2, 3, 4):
        for sample in load_dataset("vdsr-mat", sr_data_dir, scale):
            mat = sample.extra["mat"]()
            y = colour.matlab_y(mat["im_gt"])
            assert np.abs(y - mat["im_gt_y"]).max() < 1e-9, sample.name
            n += 1
    assert n == 12


def test_known_values():
    white = np.full((1, 1, 3), 255, np.uint8)
    black = np.zeros((1, 1, 3), np.uint8)
    assert colour.matlab_y(white)[0, 0] == pytest.approx(235.0)
    assert colour.matlab_y(black)[0, 0] == pytest.approx(16.0)
    # Y256's 64.738 (not 65.738) makes white land below 235
    assert colour.y256(white)[0, 0] == pytest.approx(16 + 255 * (64.738 + 129.057 + 25.064) / 256)
    assert colour.opencv_y(white)[0, 0] == 255 and colour.opencv_y(black)[0, 0] == 0


def test_opencv_matches_formula():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (8, 9, 3), dtype=np.uint8)
    expect = img.astype(float) @ [0.299, 0.587, 0.114]
    assert np.abs(colour.opencv_y(img) - expect).max() <= 0.5 + 1e-9   # OpenCV rounds to uint8


def test_bgr_swap_and_errors():
    img = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    assert np.array_equal(colour.bgr_to_rgb(colour.rgb_to_bgr(img)), img)
    assert colour.rgb_to_bgr(img)[0, 0, 0] == img[0, 0, 2]
    with pytest.raises(ValueError, match="HxWx3"):
        colour.matlab_y(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="unknown Y convention"):
        colour.to_y(img, "bt709")
