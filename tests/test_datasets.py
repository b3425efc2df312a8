"""Dataset readers, including the errors a user sees for bad input."""
import numpy as np
import pytest
from PIL import Image

from srharness.data.datasets import DatasetError, load_dataset


def _write(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def test_folder_reads_png_bmp_jpg_and_grayscale(tmp_path):
    rng = np.random.default_rng(0)
    _write(tmp_path / "b.bmp", rng.integers(0, 256, (10, 12, 3), dtype=np.uint8))
    _write(tmp_path / "a.png", rng.integers(0, 256, (8, 9), dtype=np.uint8))      # grayscale
    _write(tmp_path / "c.jpg", rng.integers(0, 256, (6, 7, 3), dtype=np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    ds = load_dataset("folder", tmp_path)
    assert ds.names() == ["a", "b", "c"]
    gray = ds.samples[0].hr()
    assert gray.shape == (8, 9, 3) and gray.dtype == np.uint8
    assert np.array_equal(gray[..., 0], gray[..., 2])
    assert ds.samples[1].lr() is None


def test_missing_and_empty_folders_name_the_path(tmp_path):
    with pytest.raises(DatasetError, match=str(tmp_path / "nope")):
        load_dataset("folder", tmp_path / "nope")
    with pytest.raises(DatasetError, match="holds no images"):
        load_dataset("folder", tmp_path)
    with pytest.raises(DatasetError, match="SRHARNESS_DATA_DIR"):
        load_dataset("set5", None)
    with pytest.raises(DatasetError, match="set5/hr"):
        load_dataset("set5", tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("set14", tmp_path)


def test_corrupt_image_is_named(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    ds = load_dataset("folder", tmp_path)
    with pytest.raises(DatasetError, match="broken.png.*not a readable image"):
        ds.samples[0].hr()


def test_div2k_layout(tmp_path):
    rng = np.random.default_rng(1)
    hr = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
    _write(tmp_path / "DIV2K_valid_HR" / "0801.png", hr)
    _write(tmp_path / "DIV2K_valid_LR_bicubic" / "X2" / "0801x2.png", hr[::2, ::2])
    ds = load_dataset("div2k", tmp_path, scale=2)
    assert ds.names() == ["0801"]
    assert ds.samples[0].lr().shape == (8, 10, 3)
    with pytest.raises(DatasetError, match="X3"):
        load_dataset("div2k", tmp_path, scale=3)


def test_corrupt_mat_file(tmp_path):
    folder = tmp_path / "set5" / "vdsr_mat"
    folder.mkdir(parents=True)
    (folder / "bird_GT_x2.mat").write_bytes(b"MATLAB 5.0 MAT-file, truncated")
    ds = load_dataset("vdsr-mat", tmp_path, scale=2)
    with pytest.raises(DatasetError, match="bird_GT_x2.mat"):
        ds.samples[0].hr()


def test_embedded_needs_no_data():
    ds = load_dataset("embedded")
    assert len(ds) == 4
    cam = ds.subset(["camera"]).samples[0].hr()
    assert cam.shape == (512, 512, 3)
    with pytest.raises(DatasetError, match="no image"):
        ds.subset(["lena"])


def test_shared_data_layouts(sr_data_dir):
    if sr_data_dir is None:
        pytest.skip("needs SRHARNESS_DATA_DIR")
    set5 = load_dataset("set5", sr_data_dir)
    assert set5.names() == ["baby", "bird", "butterfly", "head", "woman"]
    assert set5.samples[4].hr().shape == (344, 228, 3)
    assert set5.samples[0].extra["bicubic_up"](4).shape == (512, 512, 3)
    mats = load_dataset("vdsr-mat", sr_data_dir, scale=4)
    assert mats.names() == ["bird", "butterfly", "head", "woman"]      # baby is missing upstream
    pairs = load_dataset("selfexsr", sr_data_dir, scale=3)
    assert pairs.samples[0].lr().shape == (170, 170, 3)
