"""Writing files so that nothing half-written is ever left behind (or taken for valid).

The temporary beside the target is named `.<name>.<host>-<pid>.<random>.tmp`. A process killed
mid-write (SIGKILL, power loss) cannot remove it, so every write first sweeps the stale
temporaries of the same target, and the CLI sweeps its cache folders on start: a temporary of this
host whose writer process is gone, or any temporary older than STALE_SECONDS (a folder shared with
other hosts, whose pids mean nothing here), is removed. A live writer's temporary is never touched.

Errors are the file system's own `OSError`s naming the path (the CLI prints them as "PATH:
reason"): an output path that is a folder, lies under a file, or sits on a read-only or full
file system. A writer that fails in its own words on a full disk (torch's "unexpected pos ...")
is reported as ENOSPC for the path.
"""
from __future__ import annotations

import contextlib
import hashlib
import errno
import os
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import Iterable, Iterator
from srharness import settings

STALE_SECONDS = 6 * 3600        # a temporary this old is stale even if its pid is alive elsewhere
LOW_SPACE_BYTES = 1 << 20       # below this, a failed write is taken for a full disk
_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.(?P<host>[A-Za-z0-9-]{1,32})-(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")


def _host() -> str:
    import socket
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname() or "host")[:32] or "host"


def temp_prefix(path: Path) -> str:
    """`.<name>.<host>-<pid>.`: the prefix of a temporary written beside `path` (mkstemp adds the rest)."""
    return f".{path.name}.{_host()}-{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale_temporary(path: Path, now: float | None = None) -> bool:
    m = _TEMP_NAME.match(path.name)
    if not m:
        return False
    try:
        age = (now or time.time()) - path.lstat().st_mtime
    except OSError:
        return False
    if age > STALE_SECONDS:
        return True
    return m["host"] == _host() and not _pid_alive(int(m["pid"]))


def sweep_temporaries(folder: str | Path, target: str | None = None) -> list[Path]:
    """Remove the stale temporaries in `folder` (of one target name when given); returns them."""
    folder = Path(folder)
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for p in entries:
        m = _TEMP_NAME.match(p.name)
        if not m or (target is not None and m["target"] != target):
            continue
        if is_stale_temporary(p):
            try:
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink()
                removed.append(p)
            except OSError:
                pass   # another process swept it first
    return removed


def default_sweep_folders() -> list[Path]:
    """The folders the CLI writes into between runs: the eval cache and the export cache."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "srharness"
    folders = [base, base / "eval"]
    cache = settings.env("SRHARNESS_EXPORT_CACHE")
    if cache and cache.lower() != "off":
        folders.append(Path(cache))
    return folders


def sweep_stale_temporaries(folders: Iterable[str | Path] | None = None) -> list[Path]:
    """Sweep each folder (and its direct sub-folders) of stale temporaries; never raises."""
    removed: list[Path] = []
    for folder in folders if folders is not None else default_sweep_folders():
        folder = Path(folder)
        if not folder.is_dir():
            continue
        removed += sweep_temporaries(folder)
        try:
            subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
        except OSError:
            continue
        for sub in subs[:1000]:
            removed += sweep_temporaries(sub)
    return removed


def _not_regular(path: Path) -> str | None:
    """What an existing `path` is when it is not a regular file (following a symlink), else None."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "a dangling symlink" if path.is_symlink() else None
    except OSError:
        return None
    mode = st.st_mode
    for test, what in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what + (" (through a symlink)" if path.is_symlink() else "")
    return None if stat.S_ISREG(mode) else "not a regular file"


def check_destination(path: str | Path) -> None:
    """The errors a user gets before anything is written: OSErrors naming the path, and
    OutputPathError for an existing destination that is not a regular file (a device, FIFO,
    socket, folder, or a symlink to one): renaming over it would destroy it (/dev/null as root)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    what = _not_regular(path)
    if what is not None:
        from srharness.errors import OutputPathError
        raise OutputPathError(f"{path}: exists and is {what}, not a regular file; refusing to replace it "
                              "(give the path of a regular file or a new one)", subject=str(path))
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, f"{parent} is a file, not a folder", str(path))
            break


def real_destination(path: str | Path) -> Path:
    """`path`, or the regular file a symlink at `path` points to: the write replaces that file, never
    the link (and never a device or FIFO the link leads to: check_destination refuses those)."""
    path = Path(path)
    return path.resolve() if path.is_symlink() else path


def path_component(value, what: str) -> str:
    """`value` as ONE safe path component (a name read from a shard, a farm config or a plugin that
    will become a file or folder name), or InputError naming it: no separator, no `..`, nothing
    absolute, no NUL or control character, not empty, at most 200 characters."""
    from srharness.errors import InputError
    if not isinstance(value, str):
        raise InputError(f"{what}: {value!r} is not a name (a string); use letters, digits, '-', '_', '.', '@'",
                         subject=repr(value))
    bad = None
    if not value.strip():
        bad = "is empty"
    elif value in (".", ".."):
        bad = "is not a name"
    elif "/" in value or "\\" in value or os.sep in value:
        bad = "holds a path separator"
    elif any(ord(c) < 32 or c == "\x7f" for c in value):
        bad = "holds a control character"
    elif len(value) > 200:
        bad = f"is {len(value)} characters long (at most 200)"
    elif value.startswith("."):
        bad = "starts with '.' (a hidden or relative name)"
    if bad:
        raise InputError(f"{what}: {value[:80]!r} {bad}; it becomes a file name, so it must be one path "
                         "component (letters, digits, '-', '_', '.', '@')", subject=value[:200])
    return value


def _low_space(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < LOW_SPACE_BYTES
    except OSError:
        return False


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to: renamed onto `path` when the block succeeds,
    removed when it fails, so a reader sees the old file or the whole new one, never a part."""
    check_destination(path)          # names the path the user gave, a symlink included
    path = real_destination(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    sweep_temporaries(path.parent, path.name)
    try:
        fd, name = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent)
    except OSError as exc:   # name the file the user asked for, not our temporary
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the result is an ordinary file
        check_destination(path)        # again: something may have appeared there while we wrote
        os.replace(tmp, path)
    except OSError as exc:
        if exc.filename is None or str(exc.filename) == str(tmp):   # name the file asked for, not our temporary
            raise type(exc)(exc.errno, exc.strerror or str(exc), str(path)) from None
        raise
    except Exception as exc:
        if _low_space(path.parent):
            raise OSError(errno.ENOSPC, f"No space left on device ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:120] if str(exc) else ''})", str(path)) from exc
        raise
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str, **kw) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=kw.pop("encoding", "utf-8"), **kw)
    return Path(path)


# ---------------------------------------------------------------- file digests
def sha256_file(path: Path) -> str:
    """sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_FILE_DIGESTS: dict = {}


def file_digest(path: Path) -> str:
    """sha256 of a file, memoised per (path, size, mtime): a rewritten file is hashed again."""
    st = Path(path).stat()
    memo = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _FILE_DIGESTS:
        _FILE_DIGESTS[memo] = sha256_file(Path(path))
    return _FILE_DIGESTS[memo]
