"""`srharness eval`: per-image and mean figures, conventions, and clear errors."""
import json

import numpy as np
import pytest
from PIL import Image

from srharness.cli import main


def _folder(tmp_path):
    from srharness.data.datasets import load_dataset
    astro = load_dataset("embedded").subset(["astronaut"]).samples[0].hr()
    Image.fromarray(astro[:48, :60]).save(tmp_path / "one.png")
    Image.fromarray(astro[200:240, 100:164, 0]).save(tmp_path / "two.bmp")        # grayscale
    return tmp_path


def test_folder_json(tmp_path, capsys):
    folder = _folder(tmp_path)
    rc = main(["eval", "srcnn", "--scale", "2", "--dataset", "folder", "--data-dir", str(folder),
               "--protocol", "benchmark", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert [i["name"] for i in out["images"]] == ["one", "two"]
    assert out["conventions"]["protocol"] == "benchmark"
    assert out["mean_psnr"] == pytest.approx(np.mean([i["psnr"] for i in out["images"]]))
    assert out["weights"].startswith("random init")


def test_table_output_and_ort_backend(tmp_path, capsys):
    folder = _folder(tmp_path)
    rc = main(["eval", "srcnn", "--scale", "2", "--dataset", "folder", "--data-dir", str(folder),
               "--protocol", "srcnn-yjn870", "--backend", "ort", "--work-dir", str(tmp_path / "w")])
    assert rc == 0
    text = capsys.readouterr().out
    assert "deviations" in text and "mean PSNR" in text and "one" in text


def test_errors(tmp_path, capsys):
    assert main(["eval", "srcnn", "--dataset", "folder", "--data-dir", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["eval", "nosuchnet"]) == 2
    assert main(["eval", "rdn", "--protocol", "vdsr-vacc", "--dataset", "embedded"]) == 2
    assert "y-hr" in capsys.readouterr().err
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    assert main(["eval", "srcnn", "--dataset", "embedded", "--weights", str(bad)]) == 2
    assert "bad.pth" in capsys.readouterr().err


def test_vdsr_benchmark_with_official_weights(sr_data_dir, capsys):
    """The must-show figure at x4 on two images (the full run is in the report)."""
    if sr_data_dir is None:
        pytest.skip("needs SRHARNESS_DATA_DIR (Set5 and the VDSR weights)")
    rc = main(["eval", "vdsr", "--scale", "4", "--dataset", "set5", "--data-dir", str(sr_data_dir),
               "--protocol", "benchmark", "--weights", "auto", "--images", "bird,head", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    # recorded with this command on the full set: bird 33.598, head 32.663 (mean of 5: 31.356)
    assert {i["name"]: round(i["psnr"], 2) for i in out["images"]} == {"bird": 33.60, "head": 32.66}
