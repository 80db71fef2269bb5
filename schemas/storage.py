"""Paths on any filesystem fsspec knows (local, gs://, s3://, memory://), atomic writes, safe opens.

A file appears under its final name only once complete: it is written under a hidden temporary
name in the same folder and then moved. On a local disk the move is an atomic rename; on object
stores an object is only visible once its upload finished, so the move copies a whole object.

Readers open only regular files (`open_regular`): a path that is a FIFO, a device such as
/dev/zero, a socket or a directory is an error, never an endless or blocking read.

Fault injection (tests): `KOSMOS_FAULT_AT=<point>:<n>` makes the n-th pass through a point of this
process fail the way the world does: `rename` kills the process with SIGKILL just before the n-th
rename into a final name (a temporary is left behind, nothing cleans up), `write` raises
OSError(ENOSPC) at the n-th temporary write (a full disk). `KOSMOS_FAULT_LOG=<file>` appends each
point passed, so a test can count them in an uninterrupted run.
"""

from __future__ import annotations

import errno
import os
import posixpath
import re
import signal
import socket
import stat
import threading
import time
import uuid
from typing import Any

import fsspec
import fsspec.implementations.local
from fsspec.core import url_to_fs


def filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """(filesystem, path within it) for a local path or URL."""
    return url_to_fs(url)


def join(base: str, *parts: str) -> str:
    """Join with '/' whatever the filesystem (URLs keep their scheme)."""
    return posixpath.join(base.rstrip("/"), *parts) if base else posixpath.join(*parts)


_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40] or "host"


def temporary_name(final_path: str) -> str:
    """A hidden, unique sibling of `final_path`: readers and the validator skip dot-files.

    The name carries the writer's host and process id, so a later run can tell a leftover of a
    killed writer (remove it) from the temporary of a run still writing (leave it)."""
    folder, name = posixpath.split(final_path)
    return posixpath.join(folder, f".{name}.tmp-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:12]}")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def age_seconds(fs: fsspec.AbstractFileSystem, path: str) -> float | None:
    """Seconds since `path` was last modified, when the filesystem says."""
    try:
        info = fs.info(path)
    except OSError:
        return None
    mtime = info.get("mtime") or info.get("updated") or info.get("LastModified")
    if hasattr(mtime, "timestamp"):
        mtime = mtime.timestamp()
    return time.time() - float(mtime) if isinstance(mtime, (int, float)) else None


def abandoned_temporary(fs: fsspec.AbstractFileSystem, path: str, max_age: float = 3600.0) -> bool:
    """A temporary whose writer is gone: a dead process of this host, or (another host's) older than
    `max_age`. A concurrent run's temporaries are left alone."""
    tail = posixpath.basename(path).rsplit(".tmp-", 1)[-1].rsplit("-", 2)
    if len(tail) == 3 and tail[0] == _HOST and tail[1].isdigit():
        return not _process_alive(int(tail[1]))
    age = age_seconds(fs, path)
    return age is not None and age > max_age


FAULT_ENV = "KOSMOS_FAULT_AT"
FAULT_LOG_ENV = "KOSMOS_FAULT_LOG"
_fault_counts: dict[str, Any] = {}
_fault_lock = threading.Lock()


def fault_point(point: str, path: str = "") -> None:
    """A place where a kill or a full disk can strike; does nothing unless a test set KOSMOS_FAULT_AT."""
    wanted, log = os.environ.get(FAULT_ENV), os.environ.get(FAULT_LOG_ENV)
    if not wanted and not log:
        return
    with _fault_lock:
        if _fault_counts.get("\0spec") != (wanted, log):  # a new setting counts from zero
            _fault_counts.clear()
            _fault_counts["\0spec"] = (wanted, log)
        _fault_counts[point] = n = _fault_counts.get(point, 0) + 1
        if log:
            with open(log, "a") as f:
                f.write(f"{point}:{n} {posixpath.basename(path)}\n")
    if wanted != f"{point}:{n}":
        return
    if point == "write":
        raise OSError(errno.ENOSPC, "No space left on device (injected)", path)
    os.kill(os.getpid(), signal.SIGKILL)


def publish(fs: fsspec.AbstractFileSystem, tmp: str, path: str) -> None:
    """Move a complete temporary file to its final name (the one place files become visible)."""
    fault_point("rename", path)
    fs.mv(tmp, path)


def atomic_write_bytes(fs: fsspec.AbstractFileSystem, path: str, data: bytes) -> None:
    """Write `data` to `path` so that no reader ever sees a partial file."""
    tmp = write_temporary(fs, path, data)
    try:
        publish(fs, tmp, path)
    except BaseException:
        remove_quietly(fs, tmp)
        raise


def write_temporary(fs: fsspec.AbstractFileSystem, path: str, data: bytes) -> str:
    """Write `data` under a hidden temporary sibling of `path`; returns its name (for `publish`)."""
    tmp = temporary_name(path)
    try:
        fault_point("write", path)
        with fs.open(tmp, "wb") as f:
            f.write(data)
    except BaseException:
        remove_quietly(fs, tmp)
        raise
    return tmp


def is_temporary(name: str) -> bool:
    """A leftover of `temporary_name` (a killed writer leaves these behind)."""
    base = posixpath.basename(name)
    return base.startswith(".") and ".tmp-" in base


def remove_quietly(fs: fsspec.AbstractFileSystem, path: str) -> None:
    """Remove a temporary file if it exists; failures here must not hide the original error."""
    try:
        if fs.exists(path):
            fs.rm(path)
    except OSError:
        pass


class UnsafeFileError(OSError):
    """A reader was pointed at something it must not read: not a regular file (FIFO, device,
    directory...), or larger than the reader's bound."""


def regular_file_problem(fs: fsspec.AbstractFileSystem, path: str) -> str | None:
    """Why `path` must not be read as a file, or None for a regular file (symlinks are followed)."""
    if isinstance(fs, fsspec.implementations.local.LocalFileSystem):
        mode = os.stat(path).st_mode  # FileNotFoundError propagates: a missing file is its own error
        if stat.S_ISREG(mode):
            return None
        kinds = {stat.S_ISFIFO: "a FIFO", stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device"}
        kinds |= {stat.S_ISSOCK: "a socket", stat.S_ISDIR: "a directory"}
        return next(
            (f"{path} is {what}" for test, what in kinds.items() if test(mode)), f"{path} is not a file"
        )
    kind = fs.info(path).get("type")
    return None if kind == "file" else f"{path} is not a file ({kind})"


def open_regular(url: str) -> Any:
    """Open a regular file for reading; UnsafeFileError for FIFOs, devices, sockets, directories."""
    fs, path = filesystem(url)
    problem = regular_file_problem(fs, path)
    if problem:
        raise UnsafeFileError(problem)
    return fs.open(path, "rb")


def read_bytes(url: str, limit: int | None = None) -> bytes:
    """A regular file's bytes; UnsafeFileError beyond `limit` bytes (a reader's bound on small files)."""
    with open_regular(url) as f:
        data = f.read() if limit is None else f.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise UnsafeFileError(f"{url} is larger than {limit} bytes")
    return data


def open_binary(url: str, mode: str = "rb") -> Any:
    """Open for reading (regular files only) or writing."""
    if "r" in mode:
        return open_regular(url)
    fs, path = filesystem(url)
    return fs.open(path, mode)
