"""Checkpoint loading: safe paths, the legacy VDSR pickle, refusals with clear errors."""
import os
import pickle
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from srharness.checkpoints import (CheckpointError, find_weights, known_checkpoints, load_into,
                                   load_state_dict, safe_unpickle)
from srharness.models import build_model

DATA = os.environ.get("SRHARNESS_DATA_DIR")
needs_data = pytest.mark.skipif(not DATA, reason="needs SRHARNESS_DATA_DIR (weights/vdsr/*.pth)")


def _save(obj, path):
    torch.save(obj, path)
    return path


def test_plain_state_dict_round_trip(tmp_path):
    model = build_model("srcnn", 2, seed=3)
    path = _save(model.state_dict(), tmp_path / "srcnn.pth")
    loaded = load_into("srcnn", 2, path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    assert loaded.checkpoint_info.format == "state_dict"
    assert loaded.checkpoint_info.identified_as is None


@pytest.mark.parametrize("wrap", ["state_dict", "model", "params"])
def test_nested_and_module_prefixed_state_dicts(tmp_path, wrap):
    sd = build_model("srcnn", 2, seed=1).state_dict()
    prefixed = OrderedDict((f"module.{k}", v) for k, v in sd.items())  # DataParallel checkpoints
    path = _save({wrap: prefixed, "epoch": 7}, tmp_path / "nested.pth")
    loaded, info = load_state_dict(path)
    assert set(loaded) == set(sd)
    assert f"[{wrap!r}]" in info.format and "'module.' prefix stripped" in info.format


def test_wrong_architecture_lists_missing_unexpected_and_shapes(tmp_path):
    sd = build_model("srcnn", 2).state_dict()
    sd["conv1.weight"] = torch.zeros(32, 1, 9, 9)
    sd["extra.weight"] = torch.zeros(1)
    del sd["conv3.bias"]
    path = _save(sd, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as err:
        load_into("srcnn", 2, path)
    text = str(err.value)
    assert str(path) in text
    assert "missing keys: conv3.bias" in text
    assert "unexpected keys: extra.weight" in text
    assert "conv1.weight: file (32, 1, 9, 9) vs model (64, 1, 9, 9)" in text


def test_truncated_file_says_so(tmp_path):
    good = _save(build_model("srcnn", 2).state_dict(), tmp_path / "good.pth")
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pth: truncated or corrupt"):
        load_state_dict(cut)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(CheckpointError, match="nope.pth: no such checkpoint"):
        load_state_dict(tmp_path / "nope.pth")


class _Malicious:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("how", ["torch.save", "pickle.dump"])
def test_malicious_pickle_is_refused_and_never_executed(tmp_path, how, monkeypatch):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    payload = {"state_dict": {"w": torch.zeros(2)}, "x": _Malicious(marker)}
    if how == "torch.save":
        torch.save(payload, path)
    else:
        # a bare pickle (no torch storages, which would be refused first)
        path.write_bytes(pickle.dumps({"epoch": 1, "x": _Malicious(marker)}, protocol=2))
    from srharness.zoo import detect
    # the checkpoint-only path (srharness.zoo, `eval --weights X.pth` with no model) refuses it in the
    # same safe loader, before spandrel sees anything (its loader is made to fail loudly here)
    monkeypatch.setattr(detect, "_load_descriptor", lambda *a: pytest.fail("spandrel saw a hostile file"))
    for load in (load_state_dict, safe_unpickle, detect.detect_checkpoint, detect.register_checkpoint):
        with pytest.raises(CheckpointError) as err:
            load(path)
        assert "evil.pth: refused" in str(err.value)
        assert "system" in str(err.value)  # names the offending global (posix.system)
    assert not marker.exists(), "the pickle's payload ran"


def test_known_table_is_vendored_with_provenance():
    table = known_checkpoints()
    rdn = table["599ef5810044ad443198691ee430c7de835559e5f81b69fa87d5bb52f0fae1ed"]
    assert (rdn.model, rdn.scale, rdn.bytes) == ("rdn", 2, 88562853)
    assert {k.model for k in table.values()} >= {"srcnn", "rdn", "vdsr"}


@needs_data
def test_legacy_vdsr_pickle_equals_the_state_dict():
    weights = Path(DATA) / "weights" / "vdsr"
    legacy, legacy_info = load_state_dict(weights / "model_epoch_50.pth")
    plain, plain_info = load_state_dict(weights / "vdsr_state_dict.pth")
    assert "allow-listed unpickler" in legacy_info.format and "vdsr.Net" in legacy_info.format
    assert legacy.keys() == plain.keys() and len(plain) == 20
    assert all(torch.equal(legacy[k], plain[k]) for k in plain)
    assert legacy_info.identified_as.startswith("twtygqyy/pytorch-vdsr")
    assert plain_info.identified_as.startswith("twtygqyy/pytorch-vdsr")
    model = load_into("vdsr", 4, weights / "model_epoch_50.pth")
    assert sum(p.numel() for p in model.parameters()) == 664_704


@needs_data
def test_find_weights_in_the_shared_layout():
    weights = Path(DATA) / "weights"
    assert find_weights(weights, "vdsr", 3).name == "vdsr_state_dict.pth"
    assert find_weights(weights, "rdn", 2) is None
    assert find_weights(None, "vdsr", 2) is None


def test_find_weights_other_models(tmp_path):
    (tmp_path / "rdn").mkdir()
    (tmp_path / "rdn" / "rdn_x3.pth").write_bytes(b"")
    assert find_weights(tmp_path, "rdn", 3) == tmp_path / "rdn" / "rdn_x3.pth"
    assert find_weights(tmp_path, "rdn", 2) is None


def test_bounded_check_accepts_what_torch_writes_and_refuses_oversized_declarations(tmp_path):
    import struct
    from srharness.checkpoints import check_bounded
    sd = {"w": torch.zeros(123457)}   # a numel that the pickle stores as a 4-byte int
    torch.save(sd, tmp_path / "zip.pt")
    torch.save(sd, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    check_bounded(tmp_path / "zip.pt")
    check_bounded(tmp_path / "legacy.pt")
    raw = (tmp_path / "legacy.pt").read_bytes()
    # the storage's numel is in three places (pickle, size tuple, data header): claim 10**8, keep the bytes
    (tmp_path / "big.pt").write_bytes(raw.replace(struct.pack("<i", 123457), struct.pack("<i", 10 ** 8)))
    with pytest.raises(CheckpointError, match=r"big.pt: declares 400000000 bytes .* refused before allocating"):
        check_bounded(tmp_path / "big.pt")
