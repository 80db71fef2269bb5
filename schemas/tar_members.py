"""Tar members written as webdataset's TarWriter writes them, with the standard library only.

webdataset's package import pulls in torch (seconds of CPU and hundreds of MB per process), which a
pipeline that only writes shards never needs. The tar is byte-for-byte the one
`webdataset.TarWriter(fileobj, encoder=False, mtime=...)` writes (tests/schemas/test_tar_members.py
compares them), so readers see no difference.
"""

from __future__ import annotations

import io
import tarfile
import time
from typing import IO, Any

WDS_USER = WDS_GROUP = "bigdata"  # webdataset's default owner names
WDS_MODE = 0o444


class TarWriter:
    """`write({"__key__": key, ext: bytes, ...})` adds one member per extension, sorted, named key.ext."""

    def __init__(self, fileobj: IO[bytes], mtime: float | None = None) -> None:
        self.mtime = mtime
        self.tarstream = tarfile.open(fileobj=fileobj, mode="w|")

    def write(self, obj: dict[str, Any]) -> int:
        """Add one sample's members; returns their total size. Underscore keys are not written."""
        if "__key__" not in obj:
            raise ValueError("object must contain a __key__")
        for k, v in obj.items():
            if k[0] != "_" and not isinstance(v, bytes | bytearray | memoryview):
                raise ValueError(f"{k} doesn't map to bytes ({type(v)})")
        key, total = obj["__key__"], 0
        for k in sorted(obj):
            if k[0] == "_":
                continue
            v = obj[k]
            ti = tarfile.TarInfo(key + "." + k)
            ti.size = len(v)
            ti.mtime = self.mtime if self.mtime is not None else time.time()
            ti.mode, ti.uname, ti.gname = WDS_MODE, WDS_USER, WDS_GROUP
            self.tarstream.addfile(ti, io.BytesIO(v))
            total += ti.size
        return total

    def close(self) -> None:
        """Finish the tar stream (the end-of-archive blocks); the file object stays open."""
        self.tarstream.close()
