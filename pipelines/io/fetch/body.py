"""Reading a response body with a bound on decoded bytes, whatever its Content-Encoding.

httpx decodes gzip/deflate/br/zstd chunk by chunk, but each decoder call may return any amount:
a 4.8 KB brotli body inflates to gigabytes inside one call, before any size check can run, and
blocks the event loop meanwhile. Here the raw (wire) bytes are read instead and every coding is
undone by a decoder that produces at most `PIECE` bytes per step and counts what it produced, so
the limit holds on the wire, at every stacked layer (`gzip, gzip`), and on the final body.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Protocol

import brotli
import httpx
import zstandard

PIECE = 64 * 1024
"""Most bytes one decoder step returns (bounds memory and event-loop time per step)."""


class BodyTooLarge(Exception):
    """The body (raw or decoded at some layer) is longer than the limit."""


class BodyDecodeError(Exception):
    """The body is not valid for its Content-Encoding (corrupt or cut short)."""


class UnsupportedEncoding(Exception):
    """A Content-Encoding we do not undo, or too many stacked layers."""


class _Decoder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...

    def finish(self) -> Iterator[bytes]: ...


class _Identity:
    def feed(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def finish(self) -> Iterator[bytes]:
        return iter(())


class _Zlib:
    """gzip (several members allowed, as gzip(1) writes them) and deflate (zlib-wrapped or raw)."""

    def __init__(self, gzip: bool) -> None:
        self.gzip = gzip
        self._wbits = 16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS
        self._d = zlib.decompressobj(self._wbits)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self._d.decompress(data, PIECE)
            except zlib.error as err:
                if not self.gzip and not self._started:  # raw deflate, as some servers send it
                    self._wbits, self._d, self._started = (
                        -zlib.MAX_WBITS,
                        zlib.decompressobj(-zlib.MAX_WBITS),
                        True,
                    )
                    continue
                raise BodyDecodeError(f"corrupt {'gzip' if self.gzip else 'deflate'} body: {err}") from None
            self._started = True
            if out:
                yield out
            data = self._d.unconsumed_tail
            if self._d.eof:
                rest = self._d.unused_data + data
                if not (self.gzip and rest.strip(b"\0")):
                    return  # trailing zero padding after the last member is common and harmless
                self._d, data = zlib.decompressobj(self._wbits), rest
                continue
            if not data and len(out) < PIECE:
                return

    def finish(self) -> Iterator[bytes]:
        if self._started and not self._d.eof:
            raise BodyDecodeError(f"{'gzip' if self.gzip else 'deflate'} body cut short")
        return iter(())


class _Brotli:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            out = self._d.process(data, output_buffer_limit=PIECE)
            if out:
                yield out
            while not self._d.can_accept_more_data():
                out = self._d.process(b"", output_buffer_limit=PIECE)
                if not out:
                    return
                yield out
        except brotli.error as err:
            raise BodyDecodeError(f"corrupt br body: {err}") from None

    def finish(self) -> Iterator[bytes]:
        if not self._d.is_finished():
            raise BodyDecodeError("br body cut short")
        return iter(())


class _Pieces:
    """A write sink for zstandard's stream writer: collects output, refusing more than `budget`."""

    def __init__(self, budget: int) -> None:
        self.budget, self.written, self.pieces = budget, 0, []

    def write(self, data: bytes) -> int:
        self.written += len(data)
        if self.written > self.budget:
            raise BodyTooLarge(f"zstd layer decodes to more than {self.budget} bytes")
        self.pieces.append(bytes(data))
        return len(data)


class _Zstd:
    """zstandard's incremental decompressor returns everything at once; its stream writer hands
    output to a sink in `PIECE`-sized writes, so the sink can stop it at the budget."""

    def __init__(self, budget: int) -> None:
        self._sink = _Pieces(budget)
        self._w = zstandard.ZstdDecompressor().stream_writer(self._sink, write_size=PIECE)

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            self._w.write(data)
        except zstandard.ZstdError as err:
            raise BodyDecodeError(f"corrupt zstd body: {err}") from None
        pieces, self._sink.pieces = self._sink.pieces, []
        yield from pieces

    def finish(self) -> Iterator[bytes]:
        return iter(())


def _decoder(coding: str, budget: int) -> _Decoder:
    if coding in ("", "identity"):
        return _Identity()
    if coding in ("gzip", "x-gzip"):
        return _Zlib(gzip=True)
    if coding == "deflate":
        return _Zlib(gzip=False)
    if coding == "br":
        return _Brotli()
    if coding == "zstd":
        return _Zstd(budget)
    raise UnsupportedEncoding(f"Content-Encoding {coding!r} is not one we decode")


def decoders(content_encoding: str, limit: int, max_layers: int) -> list[_Decoder]:
    """The decoders for a Content-Encoding header, in the order they are applied (last coding first)."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if len(codings) > max_layers:
        raise UnsupportedEncoding(f"{len(codings)} stacked Content-Encodings (at most {max_layers})")
    return [_decoder(c, limit) for c in reversed(codings)]


class BoundedBody:
    """Raw bytes in, decoded bytes out; no layer may produce more than `limit` bytes."""

    def __init__(
        self, content_encoding: str, limit: int, max_layers: int = 3, truncate: bool = False
    ) -> None:
        self.limit, self.truncate = limit, truncate
        self._layers = decoders(content_encoding, limit, max_layers)
        self._produced = [0] * len(self._layers)
        self._raw = 0
        self._out: list[bytes] = []
        self._size = 0
        self.full = False
        """Set once `truncate` cut the body at the limit (reading may stop)."""

    def feed(self, raw: bytes) -> None:
        self._raw += len(raw)
        if self._raw > self.limit:
            if not self.truncate:
                raise BodyTooLarge(f"more than {self.limit} bytes on the wire")
            raw = raw[: max(0, len(raw) - (self._raw - self.limit))]
            self._push(0, raw)
            self.full = True
            return
        self._push(0, raw)

    def finish(self) -> bytes:
        if not self.full:
            for i, layer in enumerate(self._layers):
                for piece in layer.finish():
                    self._push(i + 1, piece)
        return b"".join(self._out)

    def _push(self, layer: int, data: bytes) -> None:
        if self.full:
            return
        if layer == len(self._layers):
            self._emit(data)
            return
        for piece in self._layers[layer].feed(data):
            self._produced[layer] += len(piece)
            if self._produced[layer] > self.limit + PIECE:
                if self.truncate:
                    self.full = True
                    return
                raise BodyTooLarge(
                    f"Content-Encoding layer {layer + 1} decodes to more than {self.limit} bytes"
                )
            self._push(layer + 1, piece)
            if self.full:
                return

    def _emit(self, data: bytes) -> None:
        room = self.limit - self._size
        if len(data) > room:
            if not self.truncate:
                raise BodyTooLarge(f"body decodes to more than {self.limit} bytes")
            data, self.full = data[:room], True
        self._out.append(data)
        self._size += len(data)


async def read_body(resp: httpx.Response, limit: int, max_layers: int = 3, truncate: bool = False) -> bytes:
    """The decoded body of a streamed response, at most `limit` bytes.

    Raises BodyTooLarge (unless `truncate`, which returns the first `limit` decoded bytes),
    BodyDecodeError or UnsupportedEncoding."""
    body = BoundedBody(resp.headers.get("content-encoding", ""), limit, max_layers, truncate)
    async for raw in resp.aiter_raw():
        body.feed(raw)
        if body.full:
            break
    return body.finish()
