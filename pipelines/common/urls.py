"""URLs as the pipelines compare them (URL dedup, keys of the same page); the stored `url` stays as given."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def normalized_url(url: str) -> str:
    """The URL as dedup compares it: scheme and host lower-cased, fragment removed."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))
