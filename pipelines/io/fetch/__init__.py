"""Polite, safe, concurrent HTTP fetching of a batch of URLs (Beam-free; a DoFn calls it per batch).

    with Fetcher(FetchConfig()) as fetcher:          # once per worker (DoFn.setup)
        results = fetcher.fetch(urls)                # per batch: list of Fetched | Drop, in order

Every URL ends as `Fetched` (body, final URL, headers) or a `Drop` with a reason from
`schemas.drop_reasons`; nothing here raises for a bad URL or a bad server.

    config.py   FetchConfig (every default, once) and Fetched
    guard.py    network safety: address checks before anything is sent, a connector that only
                reaches the checked addresses (DNS rebinding), no proxies from the environment
    robots.py   opt-outs: robots.txt by RFC 9309 (protego), X-Robots-Tag by its grammar
    network.py  httpcore's connections on plain asyncio streams (no anyio cancel scope per read)
    body.py     bodies read raw and decoded by bounded decoders (gzip, deflate, br, zstd, stacked)
    fetcher.py  the Fetcher: concurrency caps (overall, per host), deadlines per attempt and per URL,
                retries with backoff, Retry-After, redirects with loop detection, content types

Why httpx: it is already in the lock (aiohttp is not), its async client streams bodies so the size
limit holds while reading, and httpcore lets us plug in the address-checking connector.
"""

from pipelines.io.fetch.body import BodyDecodeError, BodyTooLarge, BoundedBody, UnsupportedEncoding
from pipelines.io.fetch.config import (
    REDIRECT_STATUSES,
    RETRY_STATUSES,
    USER_AGENT,
    USER_AGENT_TOKEN,
    FetchConfig,
    Fetched,
)
from pipelines.io.fetch.fetcher import Fetcher, fetch_urls, parse_retry_after
from pipelines.io.fetch.guard import BlockedAddressError, blocked_reason
from pipelines.io.fetch.robots import ROBOTS_CACHE, RobotsRules, opted_out, parse_robots_txt, robots_allows

__all__ = [
    "REDIRECT_STATUSES",
    "RETRY_STATUSES",
    "ROBOTS_CACHE",
    "USER_AGENT",
    "USER_AGENT_TOKEN",
    "BlockedAddressError",
    "BodyDecodeError",
    "BodyTooLarge",
    "BoundedBody",
    "FetchConfig",
    "Fetched",
    "Fetcher",
    "RobotsRules",
    "UnsupportedEncoding",
    "blocked_reason",
    "fetch_urls",
    "opted_out",
    "parse_retry_after",
    "parse_robots_txt",
    "robots_allows",
]
