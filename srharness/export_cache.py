"""The on-disk export cache shared by sessions and xdist workers (the `sr_export` fixture).

An entry is `<stem>-<key>.onnx` plus a `.json` sidecar with its size and sha256. The key hashes
everything the exported file depends on: the export arguments, the weights' sha256 (or the random
seed), the torch/onnx versions, srharness's exporting code, and the model's own code: every
source file that defines a module class in the built network and the builder (a registered
user model's `forward` changes the key, whatever package it lives in). An ONNX-only model's key
is its file's sha256.

Robustness:
- a hit is verified against the sidecar (size, then sha256); a truncated or corrupt entry is
  removed and exported again;
- one export per key at a time (a lock file per key), so xdist workers asking for the same file
  wait for one export instead of racing;
- clean-up removes an entry of the same stem with another key only when nobody holds its lock
  and it was not used for `STALE_AFTER_S` (a hit refreshes the time); another session's live
  entry is never removed;
- temporary files of a killed export (`.*.tmp`, `.export-*`) older than `STALE_TMP_AFTER_S` are
  swept when the cache is opened.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import inspect
import json
import os
import shutil
import sys
import time
from pathlib import Path

from srharness.errors import SrHarnessError, UsageError
from srharness import progress, settings

CACHE_ENV = "SRHARNESS_EXPORT_CACHE"
# srharness files an export depends on besides the model's own code (globs under the package)
EXPORT_SOURCES = ("export.py", "checkpoints.py", "fileio.py")
STALE_AFTER_S = 3600          # an entry of another key unused this long may be removed
STALE_TMP_AFTER_S = 600       # a temporary file this old is a killed export's leftover
PACKAGE = Path(__file__).parent


def cache_dir_from_env(default: Path) -> Path | None:
    """SRHARNESS_EXPORT_CACHE=DIR, =off for none (every session exports afresh), unset: default.
    A value naming a file, or a folder this process cannot write (a read-only mount), is a
    UsageError naming the variable, before any export."""
    value = settings.env(CACHE_ENV, "")
    if value.lower() in ("off", "0", "no", "false"):
        return None
    folder = Path(value) if value else default
    where = f"{CACHE_ENV}={value}" if value else f"the export cache {folder} (set {CACHE_ENV}=DIR or =off)"
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{where}: {folder} is not a folder; point {CACHE_ENV} at a folder (or =off)",
                         subject=str(folder))
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise UsageError(f"{where}: {existing} is a file, so {folder} cannot be made; point {CACHE_ENV} at a folder",
                         subject=str(folder))
    try:    # the one sure test of a read-only mount, sysfs, another user's folder: make a file there
        folder.mkdir(parents=True, exist_ok=True)
        import tempfile
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UsageError(f"{where}: {folder} is not writable ({exc.strerror or exc}: a read-only mount or another "
                         f"user's folder); point {CACHE_ENV} at a writable folder, or =off", subject=str(folder)) from None
    return folder


def _is_library_file(path: str) -> bool:
    """torch, the standard library and site-packages other than editable user code are versioned
    by their own version strings (in the key); their bytes need not be hashed."""
    if not path or not path.endswith(".py"):
        return True
    p = Path(path).resolve()
    for prefix in {sys.prefix, sys.base_prefix}:
        stdlib = Path(prefix) / "lib"
        if p.is_relative_to(stdlib) and "site-packages" not in p.parts:
            return True
    import torch
    return p.is_relative_to(Path(torch.__file__).parent)


def model_source_files(spec, scale: int) -> list[Path]:
    """Source files of the model's code: the builder's module and the module of every nn.Module
    class in the built network (the random init is seeded: code + seed fix the state)."""
    from srharness.models import build_model
    files: set[str] = set()
    if spec.builder is not None:
        with contextlib.suppress(TypeError, OSError):
            files.add(inspect.getsourcefile(spec.builder) or "")
        for module in build_model(spec.name, scale).modules():
            cls = type(module)
            mod = sys.modules.get(cls.__module__)
            files.add(getattr(mod, "__file__", None) or "")
            # the code objects name their file even when the module left sys.modules (a reload)
            for method in ("forward", "__init__"):
                code = getattr(getattr(cls, method, None), "__code__", None)
                if code is not None:
                    files.add(code.co_filename)
        code = getattr(spec.builder, "__code__", None)
        if code is not None:
            files.add(code.co_filename)
    for extra in spec.source_files:
        files.add(str(extra))
    return sorted(Path(f) for f in files if not _is_library_file(f))


_DIGESTS: dict = {}


def code_digest(spec, scale: int) -> str:
    """sha256 over srharness's exporting code and the model's own source files (memoised per
    process: the files of a running process do not change under it in a way we could use)."""
    key = (spec.name, scale, id(spec))
    if key not in _DIGESTS:
        h = hashlib.sha256()
        for pattern in EXPORT_SOURCES:
            for source in sorted(PACKAGE.glob(pattern)):
                h.update(source.name.encode())
                h.update(source.read_bytes())
        if spec.builder is None:
            from srharness.checkpoints import sha256_file
            h.update(sha256_file(Path(spec.onnx)).encode())
        for source in model_source_files(spec, scale):
            h.update(str(source.name).encode())
            h.update(source.read_bytes())
        h.update(json.dumps({f: str(getattr(spec, f)) for f in (
            "in_channels", "input_range", "guide_input_name", "guide_output_name", "input_multiple", "upsamples", "sr_output")},
            sort_keys=True).encode())
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def export_key(spec, args: dict, weights: Path | None) -> str:
    import onnx
    import torch
    from srharness.checkpoints import sha256_file
    h = hashlib.sha256(json.dumps({**args, "torch": torch.__version__, "onnx": onnx.__version__,
                                   "weights": sha256_file(weights) if weights else "seed 0"},
                                  sort_keys=True).encode())
    h.update(code_digest(spec, args["scale"]).encode())
    return h.hexdigest()[:20]


def _sha256(path: Path) -> str:
    from srharness.checkpoints import sha256_file
    return sha256_file(path)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _lock_path(path: Path) -> Path:
    return path.parent / ".locks" / (path.name + ".lock")


LOCK_TIMEOUT_ENV = "SRHARNESS_EXPORT_LOCK_TIMEOUT_S"
LOCK_TIMEOUT_S = 1800.0       # a whole RCAN export takes minutes; a lock held longer is a stuck process


class ExportCacheLockTimeout(SrHarnessError, TimeoutError):
    """The export cache lock stayed held past the bound; the message names the lock and its holder."""


def _lock_timeout() -> float:
    return settings.seconds(LOCK_TIMEOUT_ENV, LOCK_TIMEOUT_S, "to wait for the export cache lock", allow_zero=True)


def _holder(f) -> str:
    try:
        f.seek(0)
        pid = f.read(32).strip()
    except OSError:
        pid = ""
    return f"PID {pid}" if pid.isdigit() else "another process"


@contextlib.contextmanager
def _locked(path: Path, blocking: bool = True):
    """An exclusive lock on `path`'s lock file; yields False (not locked) when non-blocking and busy.
    Blocking waits say who holds it ("waiting for the export cache lock held by PID N") and give
    up after SRHARNESS_EXPORT_LOCK_TIMEOUT_S with an error naming the lock and the holder."""
    lock = _lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not blocking:
                yield False
                return
            limit, start = _lock_timeout(), time.monotonic()
            import sys
            print(f"srharness: waiting for the export cache lock held by {_holder(f)} ({lock}); giving up after "
                  f"{limit:g} s", file=sys.stderr, flush=True)
            while True:
                time.sleep(min(0.5, max(limit, 0.01)))
                progress.step()      # a waiting test lets a perf measurement run alone meanwhile
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() - start >= limit:
                        raise ExportCacheLockTimeout(f"gave up after {limit:g} s waiting for the export cache lock {lock} held by "
                                       f"{_holder(f)}; if that process is stuck, end it (or set {CACHE_ENV}=off, or "
                                       f"raise {LOCK_TIMEOUT_ENV})", subject=str(lock)) from None
        try:
            f.seek(0), f.truncate(), f.write(str(os.getpid())), f.flush()   # who holds it, for the next waiter
        except OSError:
            pass
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class ExportCache:
    def __init__(self, folder: Path, stale_after_s: float = STALE_AFTER_S,
                 stale_tmp_after_s: float = STALE_TMP_AFTER_S):
        self.folder = Path(folder)
        self.stale_after_s = stale_after_s
        self.stale_tmp_after_s = stale_tmp_after_s
        self.folder.mkdir(parents=True, exist_ok=True)
        self.swept = self.sweep_temporaries()

    # ------------------------------------------------------------ entries
    def verify(self, path: Path) -> str | None:
        """None when the entry is whole; else what is wrong with it."""
        side = _sidecar(path)
        if not path.is_file():
            return "missing"
        try:
            meta = json.loads(side.read_text())
            size, digest = int(meta["size"]), str(meta["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            return "no readable sidecar (an interrupted or foreign write)"
        actual = path.stat().st_size
        if actual != size:
            return f"size {actual} bytes, sidecar says {size} (truncated)"
        if _sha256(path) != digest:
            return "sha256 differs from the sidecar (corrupt)"
        return None

    def remove(self, path: Path) -> None:
        """The entry, its sidecar and what was derived from it beside it (fp16/int8 variants,
        calibration ranges: `<entry stem>.*`, unique by the key in the stem)."""
        for p in (path, _sidecar(path), *self.folder.glob(f"{path.stem}.*")):
            p.unlink(missing_ok=True)

    def get(self, stem: str, key: str, export, describe):
        """The entry for (stem, key): verified hit, or made by `export(out_path) -> ExportResult`.
        `describe(path)` -> ExportResult of an existing file. details["cache"]: hit | miss | repaired."""
        out = self.folder / f"{stem}-{key}.onnx"
        with _locked(out):
            problem = self.verify(out) if out.exists() or _sidecar(out).exists() else "missing"
            if problem is None:
                # in use: keeps it out of another session's clean-up. Touched only when getting old,
                # since quantize.py remakes variants older than their fp32 file.
                if time.time() - out.stat().st_mtime > self.stale_after_s / 4:
                    os.utime(out)
                result = describe(out)
                result.details["cache"] = "hit"
                return result
            state = "miss" if problem == "missing" else "repaired"
            self.remove(out)
            result = export(out)
            from srharness.fileio import atomic_write_text
            atomic_write_text(_sidecar(out), json.dumps({
                "size": out.stat().st_size, "sha256": _sha256(out), "created": time.time(), "stem": stem,
                "key": key}))
            result.details["cache"] = state
            if problem != "missing":
                result.details["cache_problem"] = problem
        self.remove_stale(stem, keep=out)
        return result

    # ------------------------------------------------------------ clean-up
    def remove_stale(self, stem: str, keep: Path) -> list[Path]:
        """Entries of `stem` under other keys that nobody is writing and nobody used for
        `stale_after_s` (made by older code or versions)."""
        removed = []
        now = time.time()
        for other in self.folder.glob(f"{stem}-*.onnx"):
            if other.name == keep.name or other.name[len(stem) + 1:-len(".onnx")].count("-"):
                continue         # a longer stem that merely starts with this one is another entry
            try:
                age = now - other.stat().st_mtime
            except FileNotFoundError:
                continue
            if age < self.stale_after_s:
                continue
            with _locked(other, blocking=False) as got:
                if got:
                    self.remove(other)
                    removed.append(other)
        return removed

    def sweep_temporaries(self) -> list[Path]:
        swept = []
        now = time.time()
        for p in list(self.folder.glob(".*.tmp")) + list(self.folder.glob(".export-*")):
            try:
                if now - p.stat().st_mtime < self.stale_tmp_after_s:
                    continue         # may be another worker's export in progress
                shutil.rmtree(p) if p.is_dir() else p.unlink()
                swept.append(p)
            except FileNotFoundError:
                pass
        return swept
