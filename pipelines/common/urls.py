"""URLs as the pipelines compare them (URL dedup, keys of the same page); the stored `url` stays as given."""

from __future__ import annotations

from filters.urls import canonical_url


def normalized_url(url: str) -> str:
    """The URL as dedup compares it: filters.urls.canonical_url (w3lib canonicalisation, default
    ports, tracking parameters and fragments removed)."""
    return canonical_url(url)
