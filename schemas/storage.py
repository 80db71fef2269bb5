"""Paths on any filesystem fsspec knows (local, gs://, s3://, memory://) and atomic writes.

A file appears under its final name only once complete: it is written under a hidden temporary
name in the same folder and then moved. On a local disk the move is an atomic rename; on object
stores an object is only visible once its upload finished, so the move copies a whole object.
"""

from __future__ import annotations

import posixpath
import uuid
from typing import Any

import fsspec
from fsspec.core import url_to_fs


def filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """(filesystem, path within it) for a local path or URL."""
    return url_to_fs(url)


def join(base: str, *parts: str) -> str:
    """Join with '/' whatever the filesystem (URLs keep their scheme)."""
    return posixpath.join(base.rstrip("/"), *parts) if base else posixpath.join(*parts)


def temporary_name(final_path: str) -> str:
    """A hidden, unique sibling of `final_path`: readers and the validator skip dot-files."""
    folder, name = posixpath.split(final_path)
    return posixpath.join(folder, f".{name}.tmp-{uuid.uuid4().hex[:12]}")


def atomic_write_bytes(fs: fsspec.AbstractFileSystem, path: str, data: bytes) -> None:
    """Write `data` to `path` so that no reader ever sees a partial file."""
    tmp = temporary_name(path)
    try:
        with fs.open(tmp, "wb") as f:
            f.write(data)
        fs.mv(tmp, path)
    except BaseException:
        remove_quietly(fs, tmp)
        raise


def remove_quietly(fs: fsspec.AbstractFileSystem, path: str) -> None:
    """Remove a temporary file if it exists; failures here must not hide the original error."""
    try:
        if fs.exists(path):
            fs.rm(path)
    except OSError:
        pass


def read_bytes(url: str) -> bytes:
    fs, path = filesystem(url)
    with fs.open(path, "rb") as f:
        return f.read()


def open_binary(url: str, mode: str = "rb") -> Any:
    fs, path = filesystem(url)
    return fs.open(path, mode)
