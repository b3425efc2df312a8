"""Safe checkpoint loading: plain state_dicts, nested ones, and legacy full-model pickles.

Plain files go through `torch.load(weights_only=True)`. A file that refuses that (a full pickled
model such as the official VDSR `model_epoch_50.pth`, torch ~0.3, `{'epoch': 50, 'model': vdsr.Net}`)
is read by `SafeUnpickler`: `find_class` maps only allow-listed globals to inert stand-ins (module
classes become plain data holders whose `__dict__` is read, their code never runs; storages are
read as bytes onto the CPU). Any other global is refused, naming the file and the global.
"""
from __future__ import annotations

import collections
import hashlib
import io
import pickle
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch
from torch import nn

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER (pre-zip format)
NESTED_KEYS = ("state_dict", "model", "params_ema", "params", "net")


class CheckpointError(Exception):
    """A checkpoint that cannot be used, with the file and what to do about it."""


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path
    sha256: str
    format: str                 # "state_dict", "nested['model']", "full-model pickle (legacy)", ...
    identified_as: str | None   # upstream name from known_checkpoints.tsv, None if unknown


@dataclass(frozen=True)
class KnownCheckpoint:
    model: str
    scale: int                  # 0: any scale (VDSR)
    sha256: str
    bytes: int
    identified_as: str


# ---------------------------------------------------------------- identification
@lru_cache(maxsize=1)
def known_checkpoints() -> dict[str, KnownCheckpoint]:
    text = resources.files("srharness").joinpath("known_checkpoints.tsv").read_text()
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    header, body = rows[0], rows[1:]
    assert header == ["model", "scale", "sha256", "bytes", "identified_as"], header
    return {r[2]: KnownCheckpoint(r[0], int(r[1]), r[2], int(r[3]), r[4]) for r in body}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def identify(path: Path) -> KnownCheckpoint | None:
    return known_checkpoints().get(sha256_file(Path(path)))


# ---------------------------------------------------------------- the allow-listed unpickler
class ModuleStub:
    """Inert stand-in for a pickled nn.Module: NEWOBJ/BUILD fill `__dict__`, nothing else runs."""
    qualname = "?"

    def __repr__(self):
        return f"<stub {self.qualname}>"


@lru_cache(maxsize=None)
def _module_stub(module: str, name: str) -> type:
    return type(name, (ModuleStub,), {"qualname": f"{module}.{name}", "__module__": "srharness.checkpoints.stubs"})


@dataclass(frozen=True)
class _StorageType:
    dtype: torch.dtype


_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    return torch.as_strided(storage, tuple(size), tuple(stride), storage_offset)


def _rebuild_parameter(data, requires_grad=True, *_ignored):
    return data


def _no_backend(*_ignored):
    return None  # torch 0.3's `_backend` attribute: meaningless today


# Module classes of the official checkpoints we read (user code, loaded as stubs only).
ALLOWED_MODEL_CLASSES = {("vdsr", "Net"), ("vdsr", "Conv_ReLU_Block")}
ALLOWED_FUNCTIONS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.nn.parameter", "Parameter"): _rebuild_parameter,
    ("torch.nn.backends.thnn", "_get_thnn_function_backend"): _no_backend,
}


class RefusedGlobal(pickle.UnpicklingError):
    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.global_name = f"{module}.{name}"


class SafeUnpickler(pickle.Unpickler):
    """Maps allow-listed globals to safe stand-ins; refuses everything else before it is imported."""

    def __init__(self, file, storages: "_StorageReader | None" = None):
        super().__init__(file, encoding="utf-8")  # python 2 pickles: str as utf-8, as torch.load does
        self._storages = storages

    def find_class(self, module, name):
        if (module, name) in ALLOWED_FUNCTIONS:
            return ALLOWED_FUNCTIONS[(module, name)]
        if module in ("torch", "torch.cuda") and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if (module, name) in ALLOWED_MODEL_CLASSES or (
                module.startswith("torch.nn.modules.") and name.isidentifier() and name[:1].isupper()):
            return _module_stub(module, name)
        raise RefusedGlobal(module, name)

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid:
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        if pid[0] == "module":  # legacy: ('module', class, source_file, source): the class is a stub
            return pid[1]
        if pid[0] == "storage" and self._storages is not None:
            return self._storages.get(pid)
        raise pickle.UnpicklingError(f"unsupported persistent id type {pid[0]!r}")


class _StorageReader:
    """Storages as flat CPU tensors. Legacy files keep their bytes after the main pickle, so the
    tensors are allocated here and filled in place later (views made meanwhile see the data)."""

    def __init__(self, zip_file: zipfile.ZipFile | None = None, prefix: str = ""):
        self.zip_file, self.prefix = zip_file, prefix
        self.roots: dict[str, torch.Tensor] = {}

    def get(self, pid) -> torch.Tensor:
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"storage of unknown type {storage_type!r}")
        if self.zip_file is not None:  # ('storage', type, key, location, numel)
            if key not in self.roots:
                raw = bytearray(self.zip_file.read(f"{self.prefix}data/{key}"))
                self.roots[key] = torch.frombuffer(raw, dtype=storage_type.dtype) if raw else \
                    torch.empty(0, dtype=storage_type.dtype)
            return self.roots[key]
        # legacy: ('storage', type, root_key, location, root_numel, view_metadata)
        numel, view = int(pid[4]), pid[5] if len(pid) > 5 else None
        if key not in self.roots:
            self.roots[key] = torch.zeros(numel, dtype=storage_type.dtype)
        root = self.roots[key]
        if view is not None:
            _view_key, offset, size = view
            return root[offset:offset + size]
        return root

    def fill_legacy(self, f, keys: list[str], path: Path) -> None:
        for key in keys:
            root = self.roots[str(key)]
            header = f.read(8)
            if len(header) < 8:
                raise CheckpointError(f"{path}: truncated: storage {key} is missing (file ends early); "
                                      "download the checkpoint again")
            numel = int.from_bytes(header, "little")
            nbytes = numel * root.element_size()
            raw = f.read(nbytes)
            if numel != root.numel() or len(raw) != nbytes:
                raise CheckpointError(f"{path}: truncated or corrupt: storage {key} should hold "
                                      f"{root.numel()} elements, found {numel} ({len(raw)} bytes read)")
            root.copy_(torch.frombuffer(bytearray(raw), dtype=root.dtype))


def _safe_load_legacy(path: Path) -> object:
    with open(path, "rb") as f:
        if SafeUnpickler(f).load() != LEGACY_MAGIC:
            raise CheckpointError(f"{path}: not a torch checkpoint (no torch magic number)")
        SafeUnpickler(f).load()  # protocol version
        SafeUnpickler(f).load()  # sys_info (endianness, type sizes)
        storages = _StorageReader()
        result = SafeUnpickler(f, storages).load()
        keys = SafeUnpickler(f).load()
        storages.fill_legacy(f, keys, path)
    return result


def _safe_load_zip(path: Path) -> object:
    with zipfile.ZipFile(path) as z:
        pkl = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
        if pkl is None:
            raise CheckpointError(f"{path}: zip file without data.pkl: not a torch checkpoint")
        storages = _StorageReader(z, pkl[: -len("data.pkl")])
        return SafeUnpickler(io.BytesIO(z.read(pkl)), storages).load()


def safe_unpickle(path: Path) -> object:
    """Read any torch checkpoint through the allow-list; never executes code from the file."""
    path = Path(path)
    try:
        return _safe_load_zip(path) if zipfile.is_zipfile(path) else _safe_load_legacy(path)
    except RefusedGlobal as exc:
        raise CheckpointError(
            f"{path}: refused: the pickle names {exc.global_name}, which is not on the allow-list of "
            "srharness.checkpoints; nothing from the file was executed. If you trust the file, "
            "re-save its state_dict with torch.save(model.state_dict(), ...) and pass that") from None
    except CheckpointError:
        raise
    except (EOFError, pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, ValueError,
            KeyError, IndexError, TypeError) as exc:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({type(exc).__name__}: {exc}); "
                              "download it again and compare its sha256") from None


# ---------------------------------------------------------------- state_dict extraction
def _stub_state_dict(stub: ModuleStub, prefix: str = "") -> dict[str, torch.Tensor]:
    state = vars(stub)
    out: dict[str, torch.Tensor] = {}
    for group in ("_parameters", "_buffers"):
        for name, tensor in (state.get(group) or {}).items():
            if tensor is not None:
                out[prefix + name] = tensor
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            out.update(_stub_state_dict(child, f"{prefix}{name}."))
    return out


def _strip_module_prefix(sd: dict) -> tuple[dict, bool]:
    if sd and all(k.startswith("module.") for k in sd):
        return {k[len("module."):]: v for k, v in sd.items()}, True
    return sd, False


def _as_state_dict(obj, path: Path) -> tuple[dict[str, torch.Tensor], str]:
    fmt = []
    for _ in range(3):  # {'state_dict': {...}} / {'model': module} / {'params': {...}}, at most nested twice
        if isinstance(obj, ModuleStub):
            fmt.append(f"full-model pickle ({obj.qualname})")
            obj = _stub_state_dict(obj)
            break
        if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        key = next((k for k in NESTED_KEYS if isinstance(obj, dict) and k in obj), None)
        if key is None:
            break
        obj = obj[key]
        fmt.append(f"[{key!r}]")
    if not (isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values())):
        found = sorted(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{path}: no state_dict found (top level: {found}); expected a dict of tensors, "
                              f"or one under {' / '.join(NESTED_KEYS)}")
    sd, stripped = _strip_module_prefix(dict(obj))
    if stripped:
        fmt.append("'module.' prefix stripped")
    return {k: v.detach() for k, v in sd.items()}, " ".join(["state_dict", *fmt])


def load_state_dict(path) -> tuple[dict[str, torch.Tensor], CheckpointInfo]:
    """The tensors of a checkpoint on the CPU, and where they came from."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    digest = sha256_file(path)
    known = known_checkpoints().get(digest)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        how = ""
    except pickle.UnpicklingError:
        obj = safe_unpickle(path)  # weights_only refused a global: our allow-list decides
        how = "allow-listed unpickler: "
    except (EOFError, RuntimeError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}); download it again "
                              "and compare its sha256") from None
    sd, fmt = _as_state_dict(obj, path)
    return sd, CheckpointInfo(path, digest, how + fmt, known.identified_as if known else None)


def load_into(model_name: str, scale: int, path) -> nn.Module:
    """The registry model with the checkpoint's weights (strict), in eval mode."""
    from srharness.models import build_model
    model = build_model(model_name, scale, seed=None)
    sd, info = load_state_dict(path)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    mismatched = [f"{k}: file {tuple(sd[k].shape)} vs model {tuple(expected[k].shape)}"
                  for k in expected if k in sd and sd[k].shape != expected[k].shape]
    if missing or unexpected or mismatched:
        def show(items):
            return ", ".join(items[:10]) + (f" ... ({len(items)} in all)" if len(items) > 10 else "") or "none"
        raise CheckpointError(
            f"{path}: does not fit {model_name} x{scale} (wrong architecture or scale?)\n"
            f"  missing keys: {show(missing)}\n  unexpected keys: {show(unexpected)}\n"
            f"  shape mismatches: {show(mismatched)}\n"
            f"  file: {info.format}, sha256 {info.sha256[:12]}"
            + (f", identified as {info.identified_as}" if info.identified_as else ""))
    model.load_state_dict(sd, strict=True)
    model.checkpoint_info = info
    return model.eval()


def find_weights(weights_dir, model_name: str, scale: int) -> Path | None:
    """The official checkpoint for a model in a weights dir (layout of ../shared/data/weights)."""
    if weights_dir is None:
        return None
    base = Path(weights_dir) / model_name
    if model_name == "vdsr":  # one model for every scale
        candidates = [base / "vdsr_state_dict.pth", base / "model_epoch_50.pth"]
    else:
        stem = model_name.replace("-", "_")
        candidates = [base / f"{stem}_x{scale}.pth", base / f"{stem}_x{scale}.pt",
                      base / f"{model_name}_x{scale}.pth"]
    return next((p for p in candidates if p.is_file()), None)
