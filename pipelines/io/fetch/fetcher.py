"""The fetcher: a batch of URLs -> one `Fetched` or `Drop` per URL, in order, concurrently.

Limits that keep one hostile URL from costing the others of its batch: a deadline per attempt
(`timeout`) and per URL in all (`deadline`), bodies read as raw bytes and decoded by bounded
decoders (pipelines.io.fetch.body: the size limit holds for every Content-Encoding, and no single
step inflates more than 64 KiB, so the event loop keeps serving the other URLs), bounded retries
with exponential backoff, a redirect limit with loop detection, a content-type check.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from filters.base import Drop
from pipelines.io.fetch.body import BodyDecodeError, BodyTooLarge, UnsupportedEncoding, read_body
from pipelines.io.fetch.config import (
    ACCEPT_ENCODING,
    REDIRECT_STATUSES,
    RETRY_STATUSES,
    FetchConfig,
    Fetched,
)
from pipelines.io.fetch.guard import BlockedAddressError, CheckedTransport, DNSError, Resolver
from pipelines.io.fetch.robots import ROBOTS_CACHE, RobotsRules, opted_out, parse_robots_txt, robots_allows

OnResult = Callable[[int, Fetched | Drop], None]
"""Called with (index in the batch, result) as each URL of a batch finishes."""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None.

    Only ASCII digits count as delta-seconds (str.isdigit also accepts '²' and Arabic digits);
    anything unreadable is None, so the normal backoff applies."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - (time.time() if now is None else now))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


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
        self._resolver = Resolver(self.config)
        self._robots_tasks: dict[str, asyncio.Task[RobotsRules]] = {}
        self._executor: ThreadPoolExecutor | None = None

    # ---- public API ----------------------------------------------------------------------------

    def fetch(self, urls: Sequence[str], on_result: OnResult | None = None) -> list[Fetched | Drop]:
        """Fetch `urls` concurrently; one result per URL, in order. Blocks until all are done.

        `on_result(index, result)` is called on this thread the moment each URL is done, so a
        caller can start working on early bodies while the slow ones are still downloading; it
        must be quick (it runs on the event loop)."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._executor = ThreadPoolExecutor(self.config.dns_workers, thread_name_prefix="kosmos-dns")
            self._loop.set_default_executor(self._executor)
        return self._loop.run_until_complete(self.fetch_async(urls, on_result))

    async def fetch_async(
        self, urls: Sequence[str], on_result: OnResult | None = None
    ) -> list[Fetched | Drop]:
        """The same, on the running event loop."""
        client = self._ensure_client()
        overall = asyncio.Semaphore(self.config.max_concurrency)
        per_host: dict[str, asyncio.Semaphore] = {}
        self._robots_tasks = {}

        async def one(url: str) -> Fetched | Drop:
            async with overall:
                try:
                    async with asyncio.timeout(self.config.deadline):
                        return await self._fetch_one(client, url, per_host)
                except TimeoutError:
                    return Drop(
                        "timeout", f"no result within the {self.config.deadline:g} s deadline per URL"
                    )
                except Exception as err:  # noqa: BLE001 - a bug must not lose the whole batch
                    return Drop("internal_error", f"fetch: {type(err).__name__}: {err}")

        async def reported(index: int, url: str) -> Fetched | Drop:
            result = await one(url)
            if on_result is not None:
                on_result(index, result)
            return result

        return list(await asyncio.gather(*(reported(i, u) for i, u in enumerate(urls))))

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
                transport=CheckedTransport(self._resolver, limits),
                timeout=httpx.Timeout(cfg.timeout),
                follow_redirects=False,
                trust_env=False,
                headers={
                    "User-Agent": cfg.user_agent,
                    "Accept": cfg.accept,
                    "Accept-Encoding": ACCEPT_ENCODING,
                },
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
            except DNSError as err:
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
        try:
            body = await read_body(resp, cfg.max_bytes, cfg.max_encodings)
        except BodyTooLarge as err:
            return Drop("too_large", str(err))
        except UnsupportedEncoding as err:
            return Drop("bad_content_type", str(err))
        except BodyDecodeError as err:
            return Drop("connection_error", str(err))
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
        if rules.parser is not None and not robots_allows(rules.parser, url, self.config.user_agent_token):
            return Drop("robots_disallowed", f"{origin}/robots.txt disallows {urlsplit(url).path or '/'}")
        return None

    async def _fetch_robots(self, client: httpx.AsyncClient, origin: str) -> RobotsRules:
        cfg = self.config
        rules, ttl = await self._download_robots(client, origin)
        ROBOTS_CACHE.put(origin, rules, ttl if ttl is not None else cfg.robots_ttl)
        return rules

    async def _download_robots(
        self, client: httpx.AsyncClient, origin: str
    ) -> tuple[RobotsRules, float | None]:
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
                            body = await read_body(
                                resp, cfg.robots_max_bytes, cfg.max_encodings, truncate=True
                            )
                            return RobotsRules(parse_robots_txt(body)), None
                        if status == 429 or status >= 500:
                            drop = Drop(
                                "robots_disallowed",
                                f"robots.txt unreachable (HTTP {status}): RFC 9309 "
                                "treats the host as fully disallowed",
                            )
                            return RobotsRules(None, drop), cfg.robots_error_ttl
                        return RobotsRules(None), None  # 4xx: no rules
            except BlockedAddressError:
                return RobotsRules(None), cfg.robots_error_ttl  # redirected somewhere we never go: no rules
            except (TimeoutError, httpx.TimeoutException):
                return RobotsRules(
                    None, Drop("timeout", "robots.txt did not answer in time")
                ), cfg.robots_error_ttl
            except (httpx.TransportError, httpx.StreamError) as err:
                return (
                    RobotsRules(None, Drop("connection_error", f"robots.txt: {type(err).__name__}: {err}")),
                    cfg.robots_error_ttl,
                )
            except (BodyDecodeError, UnsupportedEncoding, BodyTooLarge) as err:
                # An unreadable robots.txt (corrupt, or a stream that cannot be cut at the limit) is an
                # unreachable one (RFC 9309 2.3.1.4): disallow all for a while, never fail the host's URLs.
                drop = Drop(
                    "robots_disallowed", f"robots.txt unreadable ({err}): the host is treated as disallowed"
                )
                return RobotsRules(None, drop), cfg.robots_error_ttl
        return RobotsRules(None), None  # too many redirects: treated as no rules (RFC 9309)


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
