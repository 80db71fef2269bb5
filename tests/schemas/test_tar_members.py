"""schemas.tar_members writes the same bytes as webdataset's TarWriter, without importing webdataset."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
import webdataset as wds

from schemas.tar_members import TarWriter

SAMPLES = [
    {"__key__": "a0001", "txt": "héllo".encode(), "json": b'{"k": 1}', "jpg": bytes(range(256)) * 7},
    {"__key__": "b/0002", "txt": b"", "json": bytearray(b"{}")},
    {"__key__": "c" * 120, "txt": b"long name: a pax header"},
]


@pytest.mark.parametrize("mtime", [0.0, 1234567.0])
def test_same_bytes_as_webdataset(mtime: float) -> None:
    ours, theirs = io.BytesIO(), io.BytesIO()
    a, b = TarWriter(ours, mtime=mtime), wds.TarWriter(theirs, encoder=False, mtime=mtime)
    sizes = [(a.write(dict(s)), b.write(dict(s))) for s in SAMPLES]
    a.close()
    b.close()
    assert all(x == y > 0 for x, y in sizes[:1]) and sizes[1] == (2, 2)
    assert ours.getvalue() == theirs.getvalue() and len(ours.getvalue()) > 4096


def test_bad_samples_are_refused() -> None:
    w = TarWriter(io.BytesIO())
    with pytest.raises(ValueError, match="__key__"):
        w.write({"txt": b"x"})
    with pytest.raises(ValueError, match="doesn't map to bytes"):
        w.write({"__key__": "k", "txt": 3})


def test_writing_a_shard_imports_neither_webdataset_nor_torch(tmp_path) -> None:
    code = (
        "import sys; from schemas.kinds import Kind; from schemas.writer import ShardWriter;"
        "from schemas.samples import TextSample;"
        f"w = ShardWriter({str(tmp_path)!r}, Kind.TEXT, 0); w.write(TextSample(key='k1', text='hi'));"
        "w.close(); print(sorted(m for m in ('torch', 'webdataset') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
