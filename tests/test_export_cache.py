"""The export cache: keys follow the model's own source (a user's changed forward is never served
a stale ONNX), entries are verified against their sidecar and repaired, clean-up never takes
another key's live entry, and a killed export's temporaries are swept."""
import importlib
import os
import sys
import textwrap
import time


from srharness.export_cache import ExportCache, export_key
from srharness.registry import MODELS, ModelSpec, register_model


def _fake_export(content: bytes):
    calls = []

    def export(out):
        from srharness.fileio import atomic_path
        calls.append(out)
        with atomic_path(out) as tmp:
            tmp.write_bytes(content)
        return type("R", (), {"details": {}, "path": out})()
    return export, calls


def _describe(out):
    return type("R", (), {"details": {}, "path": out})()


def test_hit_miss_and_repair_of_a_truncated_or_corrupt_entry(tmp_path):
    cache = ExportCache(tmp_path)
    export, calls = _fake_export(b"x" * 1000)
    assert cache.get("m-x2", "k1", export, _describe).details["cache"] == "miss"
    assert cache.get("m-x2", "k1", export, _describe).details["cache"] == "hit"
    entry = tmp_path / "m-x2-k1.onnx"
    entry.write_bytes(b"x" * 10)                                # truncated
    r = cache.get("m-x2", "k1", export, _describe)
    assert r.details["cache"] == "repaired" and "truncated" in r.details["cache_problem"]
    entry.write_bytes(b"y" * 1000)                              # same size, other bytes
    r = cache.get("m-x2", "k1", export, _describe)
    assert r.details["cache"] == "repaired" and "sha256" in r.details["cache_problem"]
    (tmp_path / "m-x2-k1.onnx.json").unlink()                   # a write killed before its sidecar
    assert cache.get("m-x2", "k1", export, _describe).details["cache"] == "repaired"
    assert entry.read_bytes() == b"x" * 1000 and len(calls) == 4


def test_clean_up_keeps_another_keys_live_entry_and_removes_only_stale_ones(tmp_path):
    cache = ExportCache(tmp_path, stale_after_s=60)
    export, _ = _fake_export(b"a" * 100)
    cache.get("m-x2", "old", export, _describe)
    cache.get("m-x2", "live", export, _describe)                # another session's key, in use
    cache.get("m-x2-dyn", "other", export, _describe)           # a longer stem: never this stem's
    old = tmp_path / "m-x2-old.onnx"
    derived = tmp_path / "m-x2-old.int8-max-abc.onnx"          # a variant made beside the entry
    derived.write_bytes(b"q")
    past = time.time() - 3600
    os.utime(old, (past, past))
    os.utime(tmp_path / "m-x2-dyn-other.onnx", (past, past))
    cache.get("m-x2", "new", export, _describe)
    assert not old.exists() and not (tmp_path / "m-x2-old.onnx.json").exists() and not derived.exists()
    assert (tmp_path / "m-x2-live.onnx").exists() and (tmp_path / "m-x2-dyn-other.onnx").exists()


def test_killed_exports_temporaries_are_swept_when_old(tmp_path):
    old_tmp, young_tmp = tmp_path / ".m.onnx.abc.tmp", tmp_path / ".m.onnx.def.tmp"
    old_dir = tmp_path / ".export-xyz"
    old_dir.mkdir()
    (old_dir / "model.onnx").write_bytes(b"partial")
    for p in (old_tmp, young_tmp):
        p.write_bytes(b"partial")
    past = time.time() - 7200
    for p in (old_tmp, old_dir):
        os.utime(p, (past, past))
    cache = ExportCache(tmp_path)
    assert not old_tmp.exists() and not old_dir.exists() and young_tmp.exists()
    assert len(cache.swept) == 2


MODEL_SRC = textwrap.dedent('''
    from torch import nn

    class Net(nn.Module):
        def __init__(self, scale):
            super().__init__()
            self.conv = nn.Conv2d(1, scale * scale, 3, padding=1)
            self.up = nn.PixelShuffle(scale)

        def forward(self, x):
            return self.up(self.conv(x)){extra}
''')


def test_key_follows_the_registered_models_own_source(tmp_path, monkeypatch):
    """A user's model in its own package: changing its forward changes the key."""
    from srharness import export_cache
    pkg = tmp_path / "user_pkg_cache_key"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    keys = []
    for extra in ("", " * 2"):
        (pkg / "model.py").write_text(MODEL_SRC.format(extra=extra))
        sys.modules.pop("user_pkg_cache_key.model", None)
        model = importlib.import_module("user_pkg_cache_key.model")   # the edited file, freshly imported
        monkeypatch.delitem(MODELS, "cache-user", raising=False)
        spec = register_model(ModelSpec(name="cache-user", builder=model.Net, scales=(2,), reference="t",
                                        in_channels=1, input_range=1.0, upsamples=True,
                                        guide_input_shape=(1, 1, 8, 8), guide_opset=13), replace_existing=True)
        export_cache._DIGESTS.clear()
        assert pkg / "model.py" in export_cache.model_source_files(spec, 2)
        keys.append(export_key(spec, {"scale": 2, "name": "cache-user"}, None))
    del MODELS["cache-user"]
    assert keys[0] != keys[1]
