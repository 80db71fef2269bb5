"""Canonical URLs: the key under which two spellings of the same page or image are one (Beam-free).

    canonical_url("HTTP://Example.com:80/%7Eann/a?utm_source=x&b=2&a=1#top")
    -> "http://example.com/~ann/a?a=1&b=2"

w3lib's `canonicalize_url` (Scrapy's) does the standard part: scheme and host lower case, IDNA
hosts to punycode, percent-encoding normalised (unreserved characters such as `~` decoded, other
escapes upper-cased, non-ASCII encoded as UTF-8), query arguments sorted, fragment removed, empty
query removed. On top of it, two things it leaves alone: the default port (`:80` for http, `:443`
for https) and tracking parameters (`utm_*`, `fbclid`, `gclid`, ...) that say where a click came
from, not which page it is. Only the dedup key changes: the stored `url` stays as given.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TRACKING_PARAMS: tuple[str, ...] = (
    "fbclid",
    "gclid",
    "gclsrc",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "yclid",
    "twclid",
    "ttclid",
    "li_fat_id",
    "igshid",
    "mc_cid",
    "mc_eid",
    "_ga",
    "_gl",
    "_hsenc",
    "_hsmi",
    "mkt_tok",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
    "wickedid",
)
"""Click and campaign identifiers of the big ad and mail platforms (the lists of ClearURLs and courlan)."""
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "pk_", "hsa_")
DEFAULT_PORTS: dict[str, int] = {"http": 80, "https": 443}


@dataclass(frozen=True)
class UrlConfig:
    """What canonicalisation removes besides w3lib's normalisation."""

    remove_tracking: bool = True
    tracking_params: tuple[str, ...] = TRACKING_PARAMS
    tracking_prefixes: tuple[str, ...] = TRACKING_PREFIXES
    strip_default_port: bool = True


def _is_tracking(name: str, cfg: UrlConfig) -> bool:
    low = name.lower()
    return low in cfg.tracking_params or low.startswith(cfg.tracking_prefixes)


def canonical_url(url: str, config: UrlConfig = UrlConfig()) -> str:
    """The URL as dedup and "same page" keys compare it; never raises (junk comes back stripped)."""
    from w3lib.url import canonicalize_url

    text = url.strip()
    try:
        canon = canonicalize_url(text, keep_fragments=False)
        parts = urlsplit(canon)
        port = parts.port
    except (ValueError, UnicodeError):
        return _fallback(text)
    netloc = parts.netloc
    if config.strip_default_port and port is not None and DEFAULT_PORTS.get(parts.scheme) == port:
        netloc = netloc.rsplit(":", 1)[0]
    query = parts.query
    if config.remove_tracking and query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if not _is_tracking(k, config)]
        if len(kept) != len(pairs):
            # re-encode only when something was removed: w3lib's encoding of the rest stays as is
            query = urlencode(kept, safe="~!$'()*,;:@/?") if kept else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _fallback(text: str) -> str:
    """Scheme and host lower case, fragment removed (what a malformed URL still allows)."""
    try:
        parts = urlsplit(text)
        return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))
    except ValueError:
        return text
