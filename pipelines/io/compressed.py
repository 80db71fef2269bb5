"""Streaming decompression of input files: .zst (The Pile ships as .jsonl.zst), .xz and .bz2.

Beam-free. Each codec is read incrementally (zstandard's stream reader, lzma, bz2), so memory stays
flat however large the file; a corrupt or cut stream raises OSError, which the row readers turn into
a counted `bad_input_file` drop for the rest of the file (rows read before the fault are kept).
gzip is handled by the row readers themselves.
"""

from __future__ import annotations

import bz2
import io
import lzma
from typing import IO

CODEC_SUFFIXES = {".zst": "zstd", ".zstd": "zstd", ".xz": "xz", ".bz2": "bz2"}
READ_SIZE = 1 << 16


def codec_of(name: str) -> tuple[str, str | None]:
    """(name without the codec suffix, codec or None) of a file name."""
    lower = name.lower()
    for suffix, codec in CODEC_SUFFIXES.items():
        if lower.endswith(suffix):
            return name[: -len(suffix)], codec
    return name, None


class _CodecErrors(io.RawIOBase):
    """A readable stream whose codec errors (ZstdError, LZMAError, ...) are raised as OSError."""

    def __init__(self, inner: IO[bytes], codec: str) -> None:
        self.inner, self.codec = inner, codec

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        try:
            data = self.inner.read(len(buffer))
        except OSError:
            raise
        except Exception as e:  # noqa: BLE001 - each codec has its own error type; all mean bad bytes
            raise OSError(f"{self.codec} stream is corrupt: {type(e).__name__}: {e}") from None
        buffer[: len(data)] = data
        return len(data)


class _ZstdFrames(io.RawIOBase):
    """zstd frames one after another (pzstd and some Pile mirrors write several), decompressed as
    they are read; input that ends inside a frame is an OSError (a cut file), never a silent end.

    zstandard's own stream reader bounds its output but ends silently on a cut frame, so this
    feeds a decompressobj, with the compressed bytes per call shrunk while output is large: memory
    stays near MAX_OUTPUT whatever the compression ratio (a file of repeated rows, a zstd bomb)."""

    MAX_OUTPUT = 1 << 20

    def __init__(self, stream: IO[bytes]) -> None:
        import zstandard

        # A window above zstandard's 128 MiB default is needed only for `--long` archives.
        self._dctx = zstandard.ZstdDecompressor(max_window_size=1 << 31)
        self._frame = self._dctx.decompressobj()
        self._stream, self._input, self._pending = stream, b"", b""
        # Compressed bytes per call: starts small (the ratio is unknown), grows while output is small.
        self._step, self._in_frame, self._ended = 1 << 10, False, False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        while not self._pending and not self._ended:
            if not self._input:
                self._input = self._stream.read(READ_SIZE)
                if not self._input:
                    self._ended = True
                    if self._in_frame:
                        raise OSError("zstd stream cut short inside a frame (truncated file)")
                    break
            data, self._input = self._input[: self._step], self._input[self._step :]
            self._feed(data)
        n = min(len(buffer), len(self._pending))
        buffer[:n], self._pending = self._pending[:n], self._pending[n:]
        return n

    def _feed(self, data: bytes) -> None:
        out = []
        while data:
            self._in_frame = True
            out.append(self._frame.decompress(data))
            if not self._frame.eof:
                break
            data, self._in_frame = self._frame.unused_data, False
            self._frame = self._dctx.decompressobj()
        self._pending += b"".join(out)
        if len(self._pending) > self.MAX_OUTPUT:
            self._step = max(16, self._step // 4)
        elif len(self._pending) < self.MAX_OUTPUT // 4:
            self._step = min(READ_SIZE, self._step * 2)


def _reader(stream: IO[bytes], codec: str) -> IO[bytes]:
    if codec == "zstd":
        return _ZstdFrames(stream)  # type: ignore[return-value]
    if codec == "xz":
        return lzma.LZMAFile(stream)
    return bz2.BZ2File(stream)


def decompressed(stream: IO[bytes], name: str) -> tuple[IO[bytes], str]:
    """(stream of the decompressed bytes, name without the codec suffix); unchanged for other files."""
    inner_name, codec = codec_of(name)
    if codec is None:
        return stream, name
    raw = _CodecErrors(_reader(stream, codec), codec)
    return io.BufferedReader(raw, buffer_size=READ_SIZE), inner_name  # type: ignore[arg-type]
