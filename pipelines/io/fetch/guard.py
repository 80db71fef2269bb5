"""Network safety: which addresses may be contacted, and a connector that only reaches checked ones.

The host is resolved first and every address checked (private, loopback, link-local, multicast,
reserved, CGNAT, IPv4 embedded in IPv6 ... -> `blocked_address`) before anything is sent, on the
first URL and on every redirect hop. The connection then goes to the very addresses that were
checked (the httpcore network backend resolves through the same cache), so a DNS answer that
changes between check and connect (rebinding) cannot reach an internal service.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Sequence
from typing import Any

import httpcore
import httpx

from pipelines.io.fetch.config import FetchConfig
from pipelines.io.fetch.network import AsyncioBackend


class BlockedAddressError(Exception):
    """The host resolves to an address we refuse to contact; raised before any connection."""


class DNSError(Exception):
    """The host name does not resolve."""


def blocked_reason(ip: str, allowed_networks: Sequence[str] = ()) -> str | None:
    """Why `ip` must not be contacted (e.g. 'loopback'), or None for a public unicast address."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    for net in allowed_networks:
        if addr in ipaddress.ip_network(net, strict=False):
            return None
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = addr.ipv4_mapped or addr.sixtofour or (addr.teredo[1] if addr.teredo else None)
        if embedded is not None:
            return blocked_reason(str(embedded), allowed_networks)
    for name in ("loopback", "link_local", "multicast", "private", "reserved", "unspecified"):
        if getattr(addr, f"is_{name}"):
            return name.replace("_", "-")
    if not addr.is_global:
        return "not globally routable"
    return None


class Resolver:
    """Resolves and checks hosts; caches answers so the connection uses the checked addresses."""

    def __init__(self, config: FetchConfig) -> None:
        self.config = config
        self._cache: dict[tuple[str, int], tuple[float, list[str] | Exception]] = {}
        self._pending: dict[tuple[str, int], asyncio.Future[list[str] | Exception]] = {}

    async def resolve(self, host: str, port: int, timeout: float | None = None) -> list[str]:
        """Checked addresses of `host`; raises BlockedAddressError or DNSError.

        One lookup per host at a time: concurrent URLs of a host share it, so they all get (and
        connect to) the same checked answer, and a batch does not flood the resolver."""
        key = (host, port)
        cached = self._cache.get(key)
        if cached is not None and cached[0] >= time.monotonic():
            answer = cached[1]
        else:
            pending = self._pending.get(key)
            if pending is None:
                pending = asyncio.ensure_future(self._lookup(host, port, timeout))
                self._pending[key] = pending
                pending.add_done_callback(lambda fut, key=key: self._store(key, fut))
            answer = await asyncio.shield(pending)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _store(self, key: tuple[str, int], fut: asyncio.Future[list[str] | Exception]) -> None:
        self._pending.pop(key, None)
        if fut.cancelled():
            return
        self._cache.pop(key, None)
        self._cache[key] = (time.monotonic() + self.config.dns_cache_ttl, fut.result())
        while len(self._cache) > self.config.dns_cache_size:  # oldest first (insertion order)
            self._cache.pop(next(iter(self._cache)))

    async def _lookup(self, host: str, port: int, timeout: float | None) -> list[str] | Exception:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout or self.config.timeout
            )
        except (TimeoutError, OSError, ValueError) as err:  # ValueError: UnicodeError of a bad IDNA name
            return DNSError(f"DNS lookup of {host} failed: {err or type(err).__name__}")
        ips = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not ips:
            return DNSError(f"DNS lookup of {host} gave no address")
        if not self.config.allow_private_network:
            for ip in ips:
                why = blocked_reason(ip, self.config.allowed_networks)
                if why is not None:
                    return BlockedAddressError(f"{host} resolves to {ip} ({why})")
        return ips


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore connector that only connects to addresses the resolver has checked."""

    def __init__(self, resolver: Resolver) -> None:
        self._resolver = resolver
        self._inner = AsyncioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            ips = await self._resolver.resolve(host, port, timeout)
        except DNSError as err:
            raise httpcore.ConnectError(str(err)) from err
        last: Exception | None = None
        for ip in ips:
            try:
                return await self._inner.connect_tcp(
                    ip, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as err:
                last = err
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool rebuilt on the checking connector."""

    def __init__(self, resolver: Resolver, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        # httpx exposes no network_backend argument; the pool it built is replaced by an identical
        # public-API httpcore pool that connects through _CheckedBackend.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_CheckedBackend(resolver),
        )
