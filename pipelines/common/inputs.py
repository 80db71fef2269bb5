"""Input files: expanding paths, directories and globs on any Beam filesystem, or through fsspec
for the URLs Beam has no filesystem for (memory://, file://, ...)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import IO

import fsspec
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.io.input_rows import format_of
from schemas.storage import filesystem, regular_file_problem


def is_row_file(path: str) -> bool:
    """Files the row readers understand (jsonl, parquet, csv/tsv, txt, tar; optionally .gz)."""
    try:
        format_of(path)
    except ValueError:
        return False
    return True


def is_warc_file(path: str) -> bool:
    return path.lower().endswith((".warc", ".warc.gz"))


def expand_inputs(
    inputs: tuple[str, ...], accept: Callable[[str], bool] = is_row_file
) -> list[tuple[str, str]]:
    """(file URL, path relative to the input root) for every input file, sorted.

    A directory means every supported file below it; globs are expanded by Beam's FileSystems
    (local, gs://, s3://). The relative path is part of each row's key, so it must not depend on
    where the inputs were mounted: it is relative to the directory given (or the file's folder).
    """
    found: dict[str, str] = {}
    for item in inputs:
        item = local_path(item)
        is_dir = _is_dir(item)
        root = item.rstrip("/") if is_dir else posixpath.dirname(item.rstrip("/"))
        matches = _matches(item, is_dir)
        if not matches:
            raise FileNotFoundError(f"no input files match {item!r}")
        for path in matches:
            if _not_a_file(path):  # a FIFO or device would hang the reader (and the column check)
                raise ValueError(_not_a_file(path))
            if not accept(path):
                if not is_dir:
                    raise ValueError(f"{path}: unsupported input file for this pipeline")
                continue  # a directory may hold other files (READMEs, _SUCCESS markers)
            found[path] = posixpath.relpath(path, root) if root else path
    by_relpath: dict[str, str] = {}
    for path, rel in sorted(found.items()):
        if rel in by_relpath:  # keys come from the relative path: two such files would share keys
            raise ValueError(
                f"{by_relpath[rel]} and {path} have the same path relative to their input roots ({rel!r}), "
                "so their rows would get the same keys; give their common parent directory instead"
            )
        by_relpath[rel] = path
    return sorted(found.items())


def _not_a_file(path: str) -> str | None:
    """Why a local input must not be opened (FIFO, device, socket), or None; remote objects are files."""
    if "://" in path:
        return None
    fs, local = filesystem(path)
    return regular_file_problem(fs, local)


def local_path(url: str) -> str:
    """`file:///x` -> `/x` (Beam's local filesystem takes plain paths only)."""
    return url[len("file://") :] if url.startswith("file://") else url


def beam_knows(url: str) -> bool:
    """Whether Beam has a filesystem for this URL (local, gs://, s3://, ...); else fsspec opens it."""
    try:
        FileSystems.get_filesystem(url)
    except ValueError:
        return False
    return True


def open_input(url: str) -> IO[bytes]:
    """A binary stream of one input file; decompression is the row readers' job."""
    url = local_path(url)
    if beam_knows(url):
        return FileSystems.open(url, compression_type=CompressionTypes.UNCOMPRESSED)
    return fsspec.open(url, "rb").open()


def _matches(item: str, is_dir: bool) -> list[str]:
    if not beam_knows(item):
        fs, path = fsspec.core.url_to_fs(item)
        paths = fs.find(path) if is_dir else fs.glob(path) if fsspec.core.has_magic(path) else [path]
        return [fs.unstrip_protocol(p) for p in paths if fs.isfile(p)]
    pattern = FileSystems.join(item, "**") if is_dir else item
    return [m.path for r in FileSystems.match([pattern]) for m in r.metadata_list]


def _is_dir(item: str) -> bool:
    """True for a directory (with or without a trailing slash): something lies below it."""
    if not beam_knows(item):
        fs, path = fsspec.core.url_to_fs(item)
        return fs.isdir(path.rstrip("/") or "/")
    if not FileSystems.exists(item.rstrip("/") or "/"):
        return False
    below = FileSystems.match([FileSystems.join(item.rstrip("/"), "**")])[0].metadata_list
    return any(m.path.rstrip("/") != item.rstrip("/") for m in below)
