"""Polite, safe, concurrent HTTP fetching of a batch of URLs (Beam-free; a DoFn calls it per batch).

    with Fetcher(FetchConfig()) as fetcher:          # once per worker (DoFn.setup)
        results = fetcher.fetch(urls)                # per batch: list of Fetched | Drop, in order

Every URL ends as `Fetched` (body, final URL, headers) or a `Drop` with a reason from
`schemas.drop_reasons`; nothing here raises for a bad URL or a bad server.

What it guarantees, and how:
  * Network safety: the host is resolved first and every address is checked (private, loopback,
    link-local, multicast, reserved, CGNAT ... -> `blocked_address`) before anything is sent, on
    the first URL and on every redirect hop. The connection then goes to the very addresses that
    were checked (a custom httpcore network backend resolves through the same cache), so a DNS
    answer that changes between check and connect (rebinding) cannot reach an internal service.
    Proxies from the environment are ignored (a proxy would bypass the check).
  * Politeness: an honest User-Agent naming the project; robots.txt fetched once per host and cached
    per process (RFC 9309: 4xx = no rules, 5xx = disallow everything for a while); X-Robots-Tag
    noai/noimageai/noindex/noimageindex/none, unscoped or scoped to our token, -> `opted_out`;
    at most `max_per_host` requests in flight per host; 429 Retry-After honoured (up to a cap).
  * Limits: a total deadline per request, bounded retries with exponential backoff on 429, 5xx and
    connection errors, a body-size limit enforced while reading (a lying or 2 GB Content-Length
    cannot make it read more), a redirect limit with loop detection, a content-type check.

Why httpx: it is already in the lock (aiohttp is not), its async client streams bodies so the size
limit holds while reading, and httpcore lets us plug in the address-checking connector.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import socket
import threading
import time
import urllib.robotparser
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from filters.base import Drop

USER_AGENT_TOKEN = "kosmos-corpus"
USER_AGENT = "kosmos-corpus/0.1 (+https://github.com/kosmos-corpus)"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class FetchConfig:
    """Fetcher settings; defaults follow img2dataset where it has one, politeness norms otherwise."""

    timeout: float = 10.0
    """Seconds per request attempt, start to last body byte (img2dataset: 10 s)."""
    retries: int = 2
    """Extra attempts after a retryable failure (429, 408, 500, 502, 503, 504, connection error)."""
    retry_on_timeout: bool = False
    """Retry timeouts too. Off: a server that never answers costs one `timeout`, not three."""
    backoff_base: float = 0.5
    """First retry waits this many seconds, doubling each time (capped by backoff_max)."""
    backoff_max: float = 8.0
    max_retry_after: float = 10.0
    """Honour a 429/503 Retry-After up to this many seconds; a longer one gives up (http_error)."""
    max_bytes: int = 32 * 1024 * 1024
    """Largest body read; beyond it the URL is dropped as too_large (checked while reading)."""
    max_redirects: int = 5
    content_types: tuple[str, ...] = ("image/", "application/octet-stream", "binary/octet-stream")
    """Accepted media-type prefixes (images; many CDNs serve them as octet-stream). () = any."""
    allow_missing_content_type: bool = True
    max_concurrency: int = 64
    """URLs in flight at once in one Fetcher (one worker thread)."""
    max_per_host: int = 8
    """Requests in flight at once to one host (politeness)."""
    user_agent: str = USER_AGENT
    user_agent_token: str = USER_AGENT_TOKEN
    """The product token robots.txt groups and scoped X-Robots-Tag directives are matched against."""
    accept: str = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"
    respect_robots_txt: bool = True
    robots_ttl: float = 3600.0
    """Seconds a host's robots.txt stays cached (RFC 9309 allows up to 24 h)."""
    robots_error_ttl: float = 300.0
    """Seconds an unreachable robots.txt (timeout, 5xx) is remembered before it is tried again."""
    robots_max_bytes: int = 512 * 1024
    """robots.txt bytes parsed (RFC 9309 asks for at least 500 KiB)."""
    opt_out_directives: tuple[str, ...] = ("noai", "noimageai", "noindex", "noimageindex", "none")
    """X-Robots-Tag directives that opt a resource out (img2dataset's set, plus `none` = noindex+nofollow)."""
    allow_private_network: bool = False
    """Allow private/loopback/link-local/... addresses (tests and local demos only)."""
    allowed_networks: tuple[str, ...] = ()
    """CIDR ranges allowed even though not public (e.g. ("127.0.0.1/32",) for one local server)."""
    dns_cache_ttl: float = 300.0
    dns_cache_size: int = 100_000
    """Hosts whose checked addresses a Fetcher remembers (a long-running worker sees millions)."""
    dns_workers: int = 32
    """Threads for blocking DNS lookups (the default executor has only cpu+4)."""


@dataclass(frozen=True)
class Fetched:
    """A successfully fetched body and what the metadata needs about it."""

    url: str
    """The URL as given."""
    final_url: str
    """The URL after redirects."""
    status: int
    headers: dict[str, str]
    """Response headers, lower-case names, repeated headers joined with ', '."""
    content: bytes = field(repr=False)
    content_type: str = ""
    attempts: int = 1
    """HTTP requests sent for this URL (redirect hops and retries; robots.txt not counted)."""
    elapsed: float = 0.0


class BlockedAddressError(Exception):
    """The host resolves to an address we refuse to contact; raised before any connection."""


class _DNSError(Exception):
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


def opted_out(
    header_values: Sequence[str],
    token: str = USER_AGENT_TOKEN,
    directives: Sequence[str] = FetchConfig.opt_out_directives,
) -> str | None:
    """The X-Robots-Tag directive that opts out `token` (unscoped, or scoped 'token: ...'), or None.

    Same reading as img2dataset's `is_disallowed`: a value 'bot: a, b' applies to 'bot' only.
    """
    wanted = {d.lower() for d in directives}
    for value in header_values:
        scope, sep, rest = value.partition(":")
        ua = scope.strip().lower() if sep else None
        items = rest if sep else value
        if ua is not None and ua != token.lower():
            continue
        for item in items.split(","):
            if item.strip().lower() in wanted:
                return item.strip().lower()
    return None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


# --------------------------------------------------------------------------------------------
# robots.txt, cached per process (a Beam worker process serves many bundles and DoFn instances)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Robots:
    parser: urllib.robotparser.RobotFileParser | None
    """None = no rules (robots.txt absent, 4xx): everything allowed."""
    drop: Drop | None = None
    """Set when robots.txt was unreachable: every URL of the host gets this drop."""


class _RobotsCache:
    """Thread-safe LRU of origin -> (expiry, rules)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._data: OrderedDict[str, tuple[float, _Robots]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, origin: str) -> _Robots | None:
        with self._lock:
            item = self._data.get(origin)
            if item is None or item[0] < time.monotonic():
                return None
            self._data.move_to_end(origin)
            return item[1]

    def put(self, origin: str, rules: _Robots, ttl: float) -> None:
        with self._lock:
            self._data[origin] = (time.monotonic() + ttl, rules)
            self._data.move_to_end(origin)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


ROBOTS_CACHE = _RobotsCache()
"""The per-process robots.txt cache (tests clear it with ROBOTS_CACHE.clear())."""


# --------------------------------------------------------------------------------------------
# DNS resolution with address checks, shared by the pre-check and the connector
# --------------------------------------------------------------------------------------------


class _Resolver:
    """Resolves and checks hosts; caches answers so the connection uses the checked addresses."""

    def __init__(self, config: FetchConfig) -> None:
        self.config = config
        self._cache: dict[tuple[str, int], tuple[float, list[str] | Exception]] = {}
        self._pending: dict[tuple[str, int], asyncio.Future[list[str] | Exception]] = {}

    async def resolve(self, host: str, port: int, timeout: float | None = None) -> list[str]:
        """Checked addresses of `host`; raises BlockedAddressError or _DNSError.

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
            return _DNSError(f"DNS lookup of {host} failed: {err or type(err).__name__}")
        ips = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not ips:
            return _DNSError(f"DNS lookup of {host} gave no address")
        if not self.config.allow_private_network:
            for ip in ips:
                why = blocked_reason(ip, self.config.allowed_networks)
                if why is not None:
                    return BlockedAddressError(f"{host} resolves to {ip} ({why})")
        return ips


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore connector that only connects to addresses the resolver has checked."""

    def __init__(self, resolver: _Resolver) -> None:
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

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
        except _DNSError as err:
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


class _CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool rebuilt on the checking connector."""

    def __init__(self, resolver: _Resolver, limits: httpx.Limits) -> None:
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


# --------------------------------------------------------------------------------------------
# The fetcher
# --------------------------------------------------------------------------------------------


@dataclass
class _Retry:
    drop: Drop
    delay: float | None = None


@dataclass
class _Redirect:
    location: str
    status: int


class Fetcher:
    """Fetches batches of URLs; create once per worker thread (e.g. in DoFn.setup), then `fetch`.

    Owns an event loop and an HTTP client (connections are reused across batches). Not thread
    safe: one Fetcher per thread. `fetch_async` serves callers that already run an event loop.
    """

    def __init__(self, config: FetchConfig | None = None) -> None:
        self.config = config or FetchConfig()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._resolver = _Resolver(self.config)
        self._robots_tasks: dict[str, asyncio.Task[_Robots]] = {}
        self._executor: ThreadPoolExecutor | None = None

    # ---- public API ----------------------------------------------------------------------------

    def fetch(self, urls: Sequence[str]) -> list[Fetched | Drop]:
        """Fetch `urls` concurrently; one result per URL, in order. Blocks until all are done."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._executor = ThreadPoolExecutor(self.config.dns_workers, thread_name_prefix="kosmos-dns")
            self._loop.set_default_executor(self._executor)
        return self._loop.run_until_complete(self.fetch_async(urls))

    async def fetch_async(self, urls: Sequence[str]) -> list[Fetched | Drop]:
        """The same, on the running event loop."""
        client = self._ensure_client()
        overall = asyncio.Semaphore(self.config.max_concurrency)
        per_host: dict[str, asyncio.Semaphore] = {}
        self._robots_tasks = {}

        async def one(url: str) -> Fetched | Drop:
            async with overall:
                try:
                    return await self._fetch_one(client, url, per_host)
                except Exception as err:  # noqa: BLE001 - a bug must not lose the whole batch
                    return Drop("internal_error", f"fetch: {type(err).__name__}: {err}")

        return list(await asyncio.gather(*(one(u) for u in urls)))

    def close(self) -> None:
        """Close connections and the event loop (DoFn.teardown)."""
        if self._loop is not None:
            if self._client is not None:
                self._loop.run_until_complete(self._client.aclose())
            self._loop.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        self._loop = self._client = self._executor = None

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- one URL ---------------------------------------------------------------------------------

    def _ensure_client(self) -> httpx.AsyncClient:
        if self._client is None:
            cfg = self.config
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=cfg.max_concurrency)
            self._client = httpx.AsyncClient(
                transport=_CheckedTransport(self._resolver, limits),
                timeout=httpx.Timeout(cfg.timeout),
                follow_redirects=False,
                trust_env=False,
                headers={"User-Agent": cfg.user_agent, "Accept": cfg.accept},
            )
        return self._client

    async def _fetch_one(
        self, client: httpx.AsyncClient, url: str, per_host: dict[str, asyncio.Semaphore]
    ) -> Fetched | Drop:
        start = time.monotonic()
        if not isinstance(url, str):
            return Drop("invalid_url", f"not a string: {type(url).__name__}")
        current = url.strip()
        seen: set[str] = set()
        attempts = 0
        for _hop in range(self.config.max_redirects + 1):
            target = _parse(current)
            if isinstance(target, Drop):
                return target
            if current in seen:
                return Drop("too_many_redirects", f"redirect loop back to {current}")
            seen.add(current)
            host, port, origin = target
            try:
                await self._resolver.resolve(host, port)
            except BlockedAddressError as err:
                return Drop("blocked_address", str(err))
            except _DNSError as err:
                return Drop("connection_error", str(err))
            if self.config.respect_robots_txt:
                verdict = await self._robots_verdict(client, origin, current)
                if verdict is not None:
                    return verdict
            sem = per_host.setdefault(host, asyncio.Semaphore(self.config.max_per_host))
            outcome, sent = await self._get_with_retries(client, current, sem)
            attempts += sent
            if isinstance(outcome, _Redirect):
                current = urljoin(current, outcome.location)
                continue
            if isinstance(outcome, Fetched):
                return Fetched(
                    url=url,
                    final_url=outcome.final_url,
                    status=outcome.status,
                    headers=outcome.headers,
                    content=outcome.content,
                    content_type=outcome.content_type,
                    attempts=attempts,
                    elapsed=time.monotonic() - start,
                )
            return outcome
        return Drop("too_many_redirects", f"more than {self.config.max_redirects} redirects")

    async def _get_with_retries(
        self, client: httpx.AsyncClient, url: str, sem: asyncio.Semaphore
    ) -> tuple[Fetched | Drop | _Redirect, int]:
        cfg = self.config
        sent = 0
        for attempt in range(cfg.retries + 1):
            async with sem:
                sent += 1
                outcome = await self._get_once(client, url)
            if not isinstance(outcome, _Retry):
                return outcome, sent
            if attempt == cfg.retries:
                return outcome.drop, sent
            delay = min(cfg.backoff_max, cfg.backoff_base * 2**attempt)
            if outcome.delay is not None:
                if outcome.delay > cfg.max_retry_after:
                    return Drop(
                        outcome.drop.reason,
                        f"{outcome.drop.detail}; Retry-After {outcome.delay:.0f} s "
                        f"exceeds the {cfg.max_retry_after:.0f} s cap",
                    ), sent
                delay = outcome.delay
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _get_once(self, client: httpx.AsyncClient, url: str) -> Fetched | Drop | _Redirect | _Retry:
        cfg = self.config
        try:
            async with asyncio.timeout(cfg.timeout):
                async with client.stream("GET", url) as resp:
                    return await self._read(resp, url)
        except BlockedAddressError as err:
            return Drop("blocked_address", str(err))
        except (TimeoutError, httpx.TimeoutException) as err:
            drop = Drop("timeout", f"no complete answer within {cfg.timeout:g} s ({type(err).__name__})")
            return _Retry(drop) if cfg.retry_on_timeout else drop
        except (httpx.TransportError, httpx.StreamError) as err:
            if isinstance(err, httpx.UnsupportedProtocol):
                return Drop("invalid_url", str(err))
            return _Retry(Drop("connection_error", f"{type(err).__name__}: {err}"))
        except httpx.InvalidURL as err:
            return Drop("invalid_url", str(err))
        except httpx.RequestError as err:  # e.g. DecodingError: a body that is not valid gzip/deflate
            return Drop("connection_error", f"{type(err).__name__}: {err}")

    async def _read(self, resp: httpx.Response, url: str) -> Fetched | Drop | _Redirect | _Retry:
        cfg = self.config
        status = resp.status_code
        if status in REDIRECT_STATUSES:
            location = resp.headers.get("location")
            if not location:
                return Drop("http_error", f"HTTP {status} without Location")
            return _Redirect(location, status)
        if status in RETRY_STATUSES:
            return _Retry(
                Drop("http_error", f"HTTP {status}"), parse_retry_after(resp.headers.get("retry-after"))
            )
        if not 200 <= status < 300:
            return Drop("http_error", f"HTTP {status}")
        directive = opted_out(
            resp.headers.get_list("x-robots-tag"), cfg.user_agent_token, cfg.opt_out_directives
        )
        if directive is not None:
            return Drop("opted_out", f"X-Robots-Tag: {directive}")
        content_type = resp.headers.get("content-type", "")
        media = content_type.split(";", 1)[0].strip().lower()
        if not _content_type_ok(media, cfg):
            return Drop("bad_content_type", f"Content-Type {content_type or '(none)'}")
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cfg.max_bytes:
            return Drop("too_large", f"Content-Length {declared} > {cfg.max_bytes}")
        body = await _read_limited(resp, cfg.max_bytes)
        if body is None:
            return Drop("too_large", f"body exceeds {cfg.max_bytes} bytes")
        return Fetched(
            url=url,
            final_url=str(resp.url),
            status=status,
            headers=_headers(resp),
            content=body,
            content_type=media,
        )

    # ---- robots.txt ------------------------------------------------------------------------------

    async def _robots_verdict(self, client: httpx.AsyncClient, origin: str, url: str) -> Drop | None:
        rules = ROBOTS_CACHE.get(origin)
        if rules is None:
            task = self._robots_tasks.get(origin)
            if task is None:  # one fetch per host even when many URLs of it arrive together
                task = asyncio.ensure_future(self._fetch_robots(client, origin))
                self._robots_tasks[origin] = task
            rules = await asyncio.shield(task)
        if rules.drop is not None:
            return rules.drop
        if rules.parser is not None and not rules.parser.can_fetch(self.config.user_agent_token, url):
            return Drop("robots_disallowed", f"{origin}/robots.txt disallows {urlsplit(url).path or '/'}")
        return None

    async def _fetch_robots(self, client: httpx.AsyncClient, origin: str) -> _Robots:
        cfg = self.config
        rules, ttl = await self._download_robots(client, origin)
        ROBOTS_CACHE.put(origin, rules, ttl if ttl is not None else cfg.robots_ttl)
        return rules

    async def _download_robots(self, client: httpx.AsyncClient, origin: str) -> tuple[_Robots, float | None]:
        """RFC 9309: 2xx -> parse; 4xx -> no rules; 5xx/429 -> disallow all; up to 5 redirects."""
        cfg = self.config
        url = origin + "/robots.txt"
        for _ in range(5):
            try:
                async with asyncio.timeout(cfg.timeout):
                    async with client.stream("GET", url) as resp:
                        status = resp.status_code
                        if status in REDIRECT_STATUSES and resp.headers.get("location"):
                            url = urljoin(url, resp.headers["location"])
                            continue
                        if 200 <= status < 300:
                            body = await _read_limited(resp, cfg.robots_max_bytes, truncate=True) or b""
                            parser = urllib.robotparser.RobotFileParser(url)
                            parser.parse(body.decode("utf-8", errors="replace").splitlines())
                            parser.modified()  # can_fetch() refuses everything until this is set
                            return _Robots(parser), None
                        if status == 429 or status >= 500:
                            drop = Drop(
                                "robots_disallowed",
                                f"robots.txt unreachable (HTTP {status}): RFC 9309 "
                                "treats the host as fully disallowed",
                            )
                            return _Robots(None, drop), cfg.robots_error_ttl
                        return _Robots(None), None  # 4xx: no rules
            except BlockedAddressError:
                return _Robots(None), cfg.robots_error_ttl  # redirected somewhere we never go: no rules
            except (TimeoutError, httpx.TimeoutException):
                return _Robots(
                    None, Drop("timeout", "robots.txt did not answer in time")
                ), cfg.robots_error_ttl
            except (httpx.TransportError, httpx.StreamError) as err:
                return (
                    _Robots(None, Drop("connection_error", f"robots.txt: {type(err).__name__}: {err}")),
                    cfg.robots_error_ttl,
                )
        return _Robots(None), None  # too many redirects: treated as no rules (RFC 9309)


def fetch_urls(urls: Sequence[str], config: FetchConfig | None = None) -> list[Fetched | Drop]:
    """One-shot convenience: fetch `urls` with a fresh Fetcher and close it."""
    with Fetcher(config) as fetcher:
        return fetcher.fetch(urls)


def _parse(url: str) -> tuple[str, int, str] | Drop:
    """(host, port, origin) of an http(s) URL, or Drop('invalid_url')."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port
    except ValueError as err:
        return Drop("invalid_url", f"{url!r}: {err}")
    if scheme not in ("http", "https") or not host:
        return Drop("invalid_url", f"{url[:200]!r} is not an http(s) URL with a host")
    port = port or (443 if scheme == "https" else 80)
    netloc = f"[{host}]" if ":" in host else host
    default = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    origin = f"{scheme}://{netloc}" + ("" if default else f":{port}")
    return host, port, origin


def _content_type_ok(media: str, cfg: FetchConfig) -> bool:
    if not media:
        return cfg.allow_missing_content_type
    return not cfg.content_types or any(media.startswith(prefix) for prefix in cfg.content_types)


def _headers(resp: httpx.Response) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in resp.headers.multi_items():
        name = name.lower()
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


async def _read_limited(resp: httpx.Response, limit: int, truncate: bool = False) -> bytes | None:
    """The body, read until `limit` bytes (decoded); None when it is longer (or the prefix if truncate)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.aiter_bytes():
        size += len(chunk)
        if size > limit:
            if truncate:
                chunks.append(chunk[: limit - (size - len(chunk))])
                return b"".join(chunks)
            return None
        chunks.append(chunk)
    return b"".join(chunks)
