"""httpcore's network streams on the running asyncio loop, without anyio in the read path.

httpcore's default (anyio) backend opens a cancel scope and yields to the loop once more on every
read; over a batch of images that was about a fifth of the fetcher's CPU (measured against a
local server: 1,000 photos, 3.3 -> 2.7 CPU-s). Here a connection is an asyncio stream: reads and
writes are bounded by `asyncio.timeout`, TLS is the standard library's (`StreamWriter.start_tls`
with httpx's verifying context), and errors become httpcore's exceptions as the anyio backend maps
them, so httpx and the fetcher see the same failures.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
from httpcore._utils import is_socket_readable

READ_BUFFER = 256 * 1024
"""Bytes a connection buffers before asyncio stops reading the socket (back-pressure)."""


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One TCP (or TLS over TCP) connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as err:
            raise httpcore.ReadTimeout(f"no data within {timeout} s") from err
        except OSError as err:  # resets, TLS errors (ssl.SSLError is an OSError)
            raise httpcore.ReadError(f"{type(err).__name__}: {err}") from err

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError as err:
            raise httpcore.WriteTimeout(f"could not send within {timeout} s") from err
        except OSError as err:
            raise httpcore.WriteError(f"{type(err).__name__}: {err}") from err

    async def aclose(self) -> None:
        self._writer.transport.abort()  # no waiting on a peer that may never answer (TLS close_notify)

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as err:
            await self.aclose()
            raise httpcore.ConnectTimeout(f"TLS handshake not done within {timeout} s") from err
        except (OSError, ssl.SSLError, ValueError) as err:  # ssl.CertificateError is a ValueError too
            await self.aclose()
            raise httpcore.ConnectError(f"{type(err).__name__}: {err}") from err
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "socket":
            return self._writer.get_extra_info("socket")
        if info == "is_readable":  # an idle keep-alive connection with data, EOF or no socket is not reusable
            if self._reader.at_eof() or self._writer.transport.is_closing():
                return True
            sock = self._writer.get_extra_info("socket")
            return sock is None or is_socket_readable(sock)
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Connects with asyncio; only to the address it is given (guard.py resolves and checks first)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[tuple[int, int, int | bytes] | tuple[int, int, None, int]] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host,
                    port,
                    limit=READ_BUFFER,
                    local_addr=(local_address, 0) if local_address else None,
                    family=socket.AF_UNSPEC,
                )
        except TimeoutError as err:
            raise httpcore.ConnectTimeout(f"no connection to {host}:{port} within {timeout} s") from err
        except OSError as err:
            raise httpcore.ConnectError(f"{type(err).__name__}: {err}") from err
        sock = writer.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(reader, writer)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
