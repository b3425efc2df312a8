"""Safe checkpoint loading: plain state_dicts, nested ones, and legacy full-model pickles.

Plain files go through `torch.load(weights_only=True)`. A file that refuses that (a full pickled
model such as the official VDSR `model_epoch_50.pth`, torch ~0.3, `{'epoch': 50, 'model': vdsr.Net}`)
is read by `SafeUnpickler`: `find_class` maps only allow-listed globals to inert stand-ins (module
classes become plain data holders whose `__dict__` is read, their code never runs; storages are
read as bytes onto the CPU). Any other global is refused, naming the file and the global.
"""
from __future__ import annotations

import collections
import io
import pickle
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch
from torch import nn
from srharness.errors import SrHarnessError
from srharness.fileio import sha256_file  # also srharness.checkpoints.sha256_file for its callers

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER (pre-zip format)
NESTED_KEYS = ("state_dict", "model", "params_ema", "params", "net")


class CheckpointError(SrHarnessError):
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


def identify(path: Path) -> KnownCheckpoint | None:
    return known_checkpoints().get(sha256_file(Path(path)))


# ---------------------------------------------------------------- bounded by the file
# A checkpoint is untrusted input: what it declares is checked against the bytes it holds before
# anything is allocated. torch writes zip checkpoints with stored (uncompressed) entries, so a
# compressed entry is refused rather than inflated (a 2 MB deflated entry can hold 2 GiB); a
# storage that declares more elements than the file has bytes is refused before it is allocated.
class _DryValue:
    """What a global becomes during the size scan, and a refused global while they are listed: an
    inert object that accepts any call or state."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return _DryValue()

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass


class _SizeScanner(pickle.Unpickler):
    """Walks a pickle without importing or running anything, collecting the storages it declares:
    every global is an inert `_DryValue` (storage types excepted), so this is safe on any file."""

    def __init__(self, file, zip_format: bool):
        super().__init__(file, encoding="utf-8")
        self.zip_format = zip_format
        self.declared: dict[str, int] = {}   # storage key -> declared bytes

    def find_class(self, module, name):
        if module in ("torch", "torch.cuda") and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        return _DryValue

    def persistent_load(self, pid):
        if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage":
            storage_type, key = pid[1], str(pid[2])
            if isinstance(storage_type, _StorageType):
                itemsize = torch.empty(0, dtype=storage_type.dtype).element_size()
            else:   # torch >= 2: ('storage', torch.UntypedStorage-ish global, key, location, nbytes)
                itemsize = 1
            numel = pid[4]
            if not isinstance(numel, int) or numel < 0:
                raise CheckpointError(f"storage {key} declares {numel!r} elements")
            self.declared[key] = max(self.declared.get(key, 0), numel * itemsize)
        if isinstance(pid, tuple) and len(pid) >= 2 and pid[0] == "module":
            return pid[1] if isinstance(pid[1], type) else _DryValue
        return _DryValue()


def _scan(data: bytes | io.BufferedReader, zip_format: bool) -> _SizeScanner:
    scanner = _SizeScanner(io.BytesIO(data) if isinstance(data, bytes) else data, zip_format)
    scanner.load()
    return scanner


def check_bounded(path: Path) -> None:
    """Refuse a checkpoint whose declared storages do not fit in its bytes, or whose zip entries are
    compressed, before torch or our unpickler allocates anything. CheckpointError names the file."""
    path = Path(path)
    size = path.stat().st_size
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                infos = z.infolist()
                for info in infos:
                    if info.compress_type != zipfile.ZIP_STORED:
                        raise CheckpointError(
                            f"{path}: zip entry {info.filename} is compressed; torch.save never compresses, "
                            "so this file was re-packed or crafted; refused without inflating it "
                            "(re-save it with torch.save)")
                    if info.file_size > size:
                        raise CheckpointError(f"{path}: zip entry {info.filename} declares {info.file_size} "
                                              f"bytes, more than the file's {size}")
                pkl = next((i for i in infos if i.filename.endswith("data.pkl")), None)
                if pkl is None:
                    return
                sizes = {i.filename: i.file_size for i in infos}
                prefix = pkl.filename[: -len("data.pkl")]
                for key, nbytes in _scan(z.read(pkl), True).declared.items():
                    have = sizes.get(f"{prefix}data/{key}")
                    if have is None:
                        raise CheckpointError(f"{path}: storage {key} has no data/{key} entry; truncated or corrupt")
                    if nbytes > have:
                        raise CheckpointError(f"{path}: storage {key} declares {nbytes} bytes but its entry "
                                              f"holds {have}; truncated or crafted, refused before allocating")
            return
        with open(path, "rb") as f:
            scanner = _SizeScanner(f, False)
            if scanner.load() != LEGACY_MAGIC:
                return               # not a legacy torch file: the loaders refuse it with their reasons
            for _ in range(2):       # protocol version, sys_info
                _scan(f, False)
            declared = _scan(f, False).declared
            rest = size - f.tell()
        total = sum(declared.values())
        if total > rest:
            key, nbytes = max(declared.items(), key=lambda kv: kv[1])
            raise CheckpointError(f"{path}: declares {total} bytes of storages (storage {key}: {nbytes}) but only "
                                  f"{rest} bytes follow; truncated or crafted, refused before allocating")
    except CheckpointError:
        raise
    except (EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, KeyError, IndexError,
            TypeError, AttributeError, RecursionError, MemoryError, OverflowError) as exc:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({type(exc).__name__}: "
                              f"{str(exc)[:200]}); download it again and compare its sha256") from None


def check_tensors(sd: dict, path: Path, expected: dict | None = None) -> None:
    """Weights are floating point where the model's are and finite everywhere: an int64 tensor
    would be cast silently, a NaN/inf one exports and evaluates to `mean PSNR nan`."""
    for key, tensor in sd.items():
        want = expected.get(key) if expected is not None else None
        floating = tensor.is_floating_point()
        if want is not None and want.is_floating_point() and not floating:
            raise CheckpointError(f"{path}: tensor {key} is {str(tensor.dtype).removeprefix('torch.')}, the model "
                                  f"needs {str(want.dtype).removeprefix('torch.')} weights; refused rather than cast "
                                  "(the file is not a weights file for this model)")
        if tensor.is_complex():
            raise CheckpointError(f"{path}: tensor {key} is complex: not SR model weights")
        if floating and tensor.numel():
            bad = int((~torch.isfinite(tensor)).sum())
            if bad:
                raise CheckpointError(f"{path}: tensor {key} holds {bad} non-finite value(s) (NaN/inf) of "
                                      f"{tensor.numel()}; the training run diverged or the file is corrupt")


def load_error_reason(exc: BaseException) -> str:
    """What torch.load's error says about the file, without its advice to load unsafely."""
    text = str(exc)
    if "Weights only load failed" in text:
        detail = text.split("WeightsUnpickler error:", 1)[-1].strip().split("\n")[0].strip() \
            if "WeightsUnpickler error:" in text else ""
        return ("the pickle needs something outside torch's weights-only allow-list"
                + (f" ({detail[:200]})" if detail else "") + "; srharness never loads such a file unsafely")
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first[:200]}"


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
    # torch >= 1.6 modules pickle `_non_persistent_buffers_set`: a plain set of names
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,
}


# Classes a user trusts in a legacy full-model pickle (--allow-pickle-class lapsrn.Net, pytest
# --sr-allow-pickle-class, env SRHARNESS_ALLOW_PICKLE_CLASSES): read as inert stubs like vdsr.Net.
ALLOW_PICKLE_ENV = "SRHARNESS_ALLOW_PICKLE_CLASSES"
_USER_ALLOWED_CLASSES: set[tuple[str, str]] = set()
# Never stubs, even when asked: these name no model class, and allowing them could only hide a
# malicious file behind a confusing error.
_NEVER_ALLOWED_MODULES = ("builtins", "__builtin__", "os", "posix", "nt", "sys", "subprocess", "importlib",
                          "pickle", "shutil", "socket", "runpy", "code", "types", "functools", "operator")


def allow_pickle_classes(names) -> set[tuple[str, str]]:
    """Set the user's allow-list from "mod.Class,mod.Other" (or an iterable of such names);
    replaces the previous list. ValueError names a malformed or forbidden entry."""
    items = names.split(",") if isinstance(names, str) else list(names)
    allowed = set()
    for item in (i.strip() for i in items):
        if not item:
            continue
        module, _, name = item.rpartition(".")
        if not module or not name.isidentifier() or not all(p.isidentifier() for p in module.split(".")):
            raise ValueError(f"{item!r}: expected module.Class, e.g. lapsrn.Net")
        if module.split(".")[0] in _NEVER_ALLOWED_MODULES or module.startswith("torch"):
            raise ValueError(f"{item!r}: {module} holds no model class; only the model's own classes can be allowed")
        allowed.add((module, name))
    _USER_ALLOWED_CLASSES.clear()
    _USER_ALLOWED_CLASSES.update(allowed)
    return set(allowed)


def allowed_pickle_classes() -> list[str]:
    return sorted(f"{m}.{n}" for m, n in ALLOWED_MODEL_CLASSES | _USER_ALLOWED_CLASSES)


class RefusedGlobal(SrHarnessError, pickle.UnpicklingError):
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
        if (module, name) in ALLOWED_MODEL_CLASSES or (module, name) in _USER_ALLOWED_CLASSES or (
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


class _RefusedLister(SafeUnpickler):
    """The SafeUnpickler's decisions, but a refused global is recorded and stands in as inert, so
    one pass names every class the file needs. Imports and runs nothing from the file."""

    def __init__(self, file, refused: list[str]):
        super().__init__(file)
        self.refused = refused

    def find_class(self, module, name):
        try:
            super().find_class(module, name)
        except RefusedGlobal as exc:
            if exc.global_name not in self.refused:
                self.refused.append(exc.global_name)
        # Everything stands in as the one inert type while listing (no tensor is rebuilt, and
        # NEWOBJ of an allowed stub's instance would stop the listing after the first class).
        return _DryValue

    def persistent_load(self, pid):
        # a legacy full-model pickle names each module class by persistent id ("module", cls, ...):
        # the type, so NEWOBJ of it goes on and every later class is listed too
        return _DryValue


def refused_globals(path: Path) -> list[str]:
    """Every global a checkpoint's pickle names that the allow-list refuses (best effort: a
    corrupt stream stops the listing where it breaks)."""
    refused: list[str] = []
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                pkl = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
                if pkl is not None:
                    _RefusedLister(io.BytesIO(z.read(pkl)), refused).load()
        else:
            with open(path, "rb") as f:
                for _ in range(4):    # magic, protocol, sys_info, the object
                    _RefusedLister(f, refused).load()
    except Exception:                 # listing is diagnostics only; the refusal stands either way
        pass
    return refused


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
        names = refused_globals(path) or [exc.global_name]
        never = [n for n in names if n.split(".")[0] in _NEVER_ALLOWED_MODULES or n.startswith("torch")]
        classes = [n for n in names if n not in never]
        listed = ",".join(classes)
        how = (f" If you trust the file and these are its model classes, allow them (read as inert stubs, "
               f"never imported): --allow-pickle-class {listed} (pytest: --sr-allow-pickle-class {listed}; "
               f"env {ALLOW_PICKLE_ENV}={listed}), or" if classes and not never else
               f" {', '.join(never)} name no model class and cannot be allowed: do not use this file, or")
        raise CheckpointError(
            f"{path}: refused: the pickle names {len(names)} global(s) not on the allow-list of "
            f"srharness.checkpoints: {', '.join(names)}; nothing from the file was executed.{how} "
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


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError:
        raise CheckpointError(f"{path}: reading .safetensors needs the safetensors package "
                              "(pip install safetensors, or the srharness[zoo] extra)") from None
    try:
        sd = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: truncated or corrupt safetensors file ({str(exc).splitlines()[0][:200]}); "
                              "download it again and compare its sha256") from None
    if not sd:
        raise CheckpointError(f"{path}: the safetensors file holds no tensors")
    sd, _ = _strip_module_prefix(sd)
    return sd


def load_state_dict(path) -> tuple[dict[str, torch.Tensor], CheckpointInfo]:
    """The tensors of a checkpoint on the CPU, and where they came from."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    digest = sha256_file(path)
    known = known_checkpoints().get(digest)
    if path.suffix.lower() == ".safetensors":   # no pickle at all: the format only holds tensors
        sd, fmt = _load_safetensors(path), "safetensors"
        check_tensors(sd, path)
        return sd, CheckpointInfo(path, digest, fmt, known.identified_as if known else None)
    check_bounded(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        how = ""
    except pickle.UnpicklingError:
        obj = safe_unpickle(path)  # weights_only refused a global: our allow-list decides
        how = "allow-listed unpickler: "
    except (EOFError, RuntimeError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({load_error_reason(exc)}); "
                              "download it again and compare its sha256") from None
    sd, fmt = _as_state_dict(obj, path)
    check_tensors(sd, path)
    return sd, CheckpointInfo(path, digest, how + fmt, known.identified_as if known else None)


def load_into(model_name: str, scale: int, path) -> nn.Module:
    """The registry model with the checkpoint's weights (strict), in eval mode."""
    from srharness.models import build_model, get_model_spec
    model = build_model(model_name, scale, seed=None)
    sd, info = load_state_dict(path)
    convert = get_model_spec(model_name).convert_state_dict
    if convert is not None:
        sd = convert(sd)
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
    check_tensors(sd, path, expected)
    model.load_state_dict(sd, strict=True)
    model.checkpoint_info = info
    return model.eval()


def find_weights(weights_dir, model_name: str, scale: int) -> Path | None:
    """The official checkpoint for a model in a weights dir (layout of ../shared/data/weights):
    the first of the model spec's `weight_patterns` that exists under <weights dir>/<model>/, then
    under the spec's `bundled_weights` folder (weights a model's package ships)."""
    from srharness.models import get_model_spec
    candidates = get_model_spec(model_name).weight_candidates(weights_dir, scale)
    return next((p for p in candidates if p.is_file()), None)
