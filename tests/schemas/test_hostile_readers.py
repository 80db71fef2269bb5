"""Hostile shards and corpus folders against the readers (validate, inspect, view, iter_corpus, trainer).

Every case is a reported problem or a clear error (exit 2 for the CLI's inspect/view, exit 1 for
validate), never a crash, a hang or a MemoryError; and readers trust only what the manifest lists,
at the listed size and sha256.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from schemas.cli import main as shards_main
from schemas.images import IMAGE_FORMATS, decode_problem
from schemas.kinds import Kind, SchemaError
from schemas.manifest import read_manifest
from schemas.reader import ShardReadError, iter_corpus, iter_shard
from schemas.validate import validate
from tests.schemas.conftest import read_tar, write_tar

SHARD = "shard-000000.tar"
pytestmark = pytest.mark.timeout(120)  # a reader that blocks on a FIFO or reads /dev/zero fails here


def _problems(root: Path) -> list[str]:
    report = validate(str(root))
    assert not report.ok
    return [str(p) for p in report.problems]


@dataclass
class _Run:
    returncode: int
    stdout: str
    stderr: str


def _cli(*args: str) -> _Run:
    """`kosmos-shards ...` in process (pytest-timeout turns a hang into a failure, see pytestmark)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = shards_main(list(args))
    return _Run(code, out.getvalue(), err.getvalue())


def _replace_member(root: Path, suffix: str, data: bytes) -> None:
    """Rewrite shard 0 with the first sample's `suffix` member replaced by `data`."""
    members = read_tar(root / SHARD)
    first = members[0][0].split(".")[0]
    write_tar(root / SHARD, [(n, data if n == f"{first}.{suffix}" else d) for n, d in members])


# ---- deep and huge JSON -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "member",
    [
        b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"caption": "x", "n": ' + b"9" * 5000 + b"}",
        b'{"caption": "x", "deep": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"}",
    ],
)
def test_hostile_json_members_are_problems(corpus_copy, member: bytes) -> None:
    root = corpus_copy(Kind.IMAGE_TEXT)
    _replace_member(root, "json", member)
    assert any("invalid JSON" in p for p in _problems(root))
    with pytest.raises(ShardReadError, match="invalid JSON"):
        list(iter_shard(str(root / SHARD)))  # the member itself, read without the manifest's size check
    with pytest.raises(ShardReadError, match="manifest lists"):
        list(iter_corpus(str(root)))
    assert shards_main(["inspect", str(root)]) == 2


def test_deeply_nested_manifest_is_a_clear_error(corpus_copy) -> None:
    root = corpus_copy(Kind.TEXT)
    (root / "manifest.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(SchemaError, match="not valid JSON"):
        read_manifest(str(root))
    (root / "manifest.json").write_bytes(b"[1, 2]")
    with pytest.raises(SchemaError, match="expected an object"):
        read_manifest(str(root))
    assert any("manifest" in p for p in _problems(root))


# ---- member sizes ------------------------------------------------------------------------------------


def _sparse_tar(tmp: Path) -> Path:
    """A 10 KB tar holding a 16 GiB sparse member (GNU tar --sparse)."""
    big = tmp / "x.json"
    with open(big, "wb") as f:
        f.truncate(16 * 1024**3)
    out = tmp / "sparse.tar"
    subprocess.run(["tar", "--sparse", "-cf", str(out), "-C", str(tmp), "x.json"], check=True)
    big.unlink()
    return out


def _lying_tar(tmp: Path) -> Path:
    """A tar whose member header claims 16 GiB (the data is not there)."""
    info = tarfile.TarInfo("0000000000000000aaaaaaaa.json")
    info.size = 16 * 1024**3
    header = info.tobuf(format=tarfile.GNU_FORMAT)
    out = tmp / "lying.tar"
    out.write_bytes(header + b"{}" + b"\0" * 10_000)
    return out


@pytest.mark.parametrize("make", [_sparse_tar, _lying_tar])
def test_oversized_members_are_reported_not_loaded(corpus_copy, tmp_path: Path, make) -> None:
    if make is _sparse_tar and shutil.which("tar") is None:
        pytest.fail("GNU tar is needed to build the sparse fixture")
    root = corpus_copy(Kind.TEXT)
    bad = make(tmp_path)
    assert bad.stat().st_size < 20_000
    shutil.copy(bad, root / SHARD)
    problems = _problems(root)
    assert any("member limit" in p or "sparse" in p or "corrupt or truncated" in p for p in problems), (
        problems
    )
    with pytest.raises(ShardReadError):
        list(iter_corpus(str(root)))
    assert shards_main(["inspect", str(root)]) == 2


# ---- not regular files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/dev/zero", "../other/shard-000000.tar", "sub/shard-000000.tar", ".hidden.tar"]
)
def test_manifest_paths_outside_the_corpus_are_refused(corpus_copy, path: str) -> None:
    root = corpus_copy(Kind.TEXT)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["shards"][0]["path"] = path
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SchemaError, match="plain file name|must end in .tar"):
        read_manifest(str(root))
    result = _cli("validate", str(root))
    assert result.returncode == 1 and "manifest" in result.stdout
    result = _cli("inspect", str(root))
    assert result.returncode == 2 and "error" in result.stderr and "0 samples" not in result.stdout
    assert _cli("view", str(root), "--out", str(root / "v.html")).returncode == 2


@pytest.mark.parametrize("special", ["fifo", "dev-zero", "directory"])
def test_special_files_named_like_shards_are_problems(corpus_copy, special: str) -> None:
    root = corpus_copy(Kind.IMAGE_TEXT)
    (root / SHARD).unlink()
    if special == "fifo":
        os.mkfifo(root / SHARD)
    elif special == "dev-zero":
        os.symlink("/dev/zero", root / SHARD)
    else:
        (root / SHARD).mkdir()
    result = _cli("validate", str(root))  # would block on the FIFO, never end on /dev/zero
    assert result.returncode == 1 and "cannot open shard" in result.stdout, result.stdout
    with pytest.raises(ShardReadError, match="FIFO|character device|directory"):
        list(iter_corpus(str(root)))
    assert _cli("inspect", str(root)).returncode == 2


def test_fifo_manifest_is_an_error_not_a_hang(corpus_copy) -> None:
    root = corpus_copy(Kind.TEXT)
    (root / "manifest.json").unlink()
    os.mkfifo(root / "manifest.json")
    with pytest.raises(SchemaError, match="FIFO"):
        read_manifest(str(root))
    assert _cli("inspect", str(root)).returncode == 2


# ---- trust only the manifest --------------------------------------------------------------------------


def test_a_shard_changed_behind_the_manifest_is_refused(corpus_copy) -> None:
    root = corpus_copy(Kind.TEXT)
    members = read_tar(root / SHARD)
    write_tar(root / SHARD, members[: len(members) // 2])  # other size: refused before reading
    with pytest.raises(ShardReadError, match="bytes but the manifest lists"):
        list(iter_corpus(str(root)))
    root = corpus_copy(Kind.INTERLEAVED)
    raw = bytearray((root / SHARD).read_bytes())
    at = raw.index(b"intro 0") + len(b"intro ")
    raw[at] = ord("9")  # same size, other bytes: refused by the sha256
    (root / SHARD).write_bytes(bytes(raw))
    with pytest.raises(ShardReadError, match="sha256"):
        list(iter_corpus(str(root)))
    assert shards_main(["inspect", str(root)]) == 2


def test_unlisted_shards_and_temporaries_are_never_read(corpus_copy) -> None:
    root = corpus_copy(Kind.TEXT)
    listed = sum(1 for _ in iter_corpus(str(root)))
    shutil.copy(root / SHARD, root / "shard-000099.tar")  # a leftover under a final name
    shutil.copy(root / SHARD, root / ".shard-000000.tar.tmp-0123456789ab")
    assert sum(1 for _ in iter_corpus(str(root))) == listed
    report = validate(str(root))
    assert report.ok and any("not listed" in w for w in report.warnings)


# ---- Pillow formats -------------------------------------------------------------------------------------


def _encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (96, 80), (10, 100, 200)).save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["EPS", "BMP", "TIFF", "PPM", "ICO"])
def test_images_outside_the_allow_list_are_refused(corpus_copy, fmt: str) -> None:
    data = _encoded(fmt)
    size, problem = decode_problem(data)
    assert size is None and "cannot identify image" in problem
    root = corpus_copy(Kind.IMAGE_TEXT)
    _replace_member(root, "jpg", data)
    assert any("does not decode" in p for p in _problems(root))


def test_trainer_image_loader_uses_the_allow_list() -> None:
    from kosmos_train.data.images import load_image

    assert set(IMAGE_FORMATS) == {"JPEG", "PNG", "WEBP", "GIF"}
    assert load_image(_encoded("PNG"), 32).shape == (3, 32, 32)
    for fmt in ("EPS", "BMP"):
        with pytest.raises(Image.UnidentifiedImageError):
            load_image(_encoded(fmt), 32)
