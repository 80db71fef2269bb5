"""Fetcher settings and the result type; every default lives here, once."""

from __future__ import annotations

from dataclasses import dataclass, field

USER_AGENT_TOKEN = "kosmos-corpus"
USER_AGENT = "kosmos-corpus/0.1 (+https://github.com/kosmos-corpus)"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
ACCEPT_ENCODING = "gzip, deflate, br, zstd"
"""Every coding the bounded body decoder handles (pipelines.io.fetch.body)."""


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
    deadline: float = 60.0
    """Seconds one URL may cost in all (robots.txt, redirect hops, retries, backoff): one slow URL
    never holds its batch longer than this."""
    max_bytes: int = 32 * 1024 * 1024
    """Largest body, counted after every Content-Encoding is undone (and on the wire); beyond it the
    URL is dropped as too_large, checked while reading and while decoding."""
    max_encodings: int = 3
    """Most Content-Encoding layers undone (`gzip, gzip` is two); more is refused as bad_content_type."""
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
