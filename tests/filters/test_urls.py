"""Canonical URLs: every spelling variant of one page gives one key; different pages stay apart."""

from __future__ import annotations

import pytest

from filters.urls import UrlConfig, canonical_url

BASE = "http://example.com/~ann/page?a=1&b=2"


@pytest.mark.parametrize(
    "variant",
    [
        "http://example.com/~ann/page?a=1&b=2",
        "HTTP://EXAMPLE.COM/~ann/page?a=1&b=2",  # scheme and host case
        "http://Example.com:80/~ann/page?a=1&b=2",  # default port
        "http://example.com/%7Eann/page?a=1&b=2",  # %7E vs ~
        "http://example.com/%7eann/page?a=1&b=2",  # lower-case escape
        "http://example.com/~ann/page?b=2&a=1",  # query order
        "http://example.com/~ann/page?a=1&b=2#comments",  # fragment
        "http://example.com/~ann/page?utm_source=news&a=1&utm_medium=mail&b=2",  # utm_*
        "http://example.com/~ann/page?a=1&fbclid=IwAR0abc&b=2",  # fbclid
        "http://example.com/~ann/page?gclid=EAIaIQ&a=1&b=2",  # gclid
        "  http://example.com/~ann/page?a=1&b=2\n",  # whitespace around
    ],
)
def test_every_variant_has_the_same_key(variant: str) -> None:
    assert canonical_url(variant) == canonical_url(BASE) == "http://example.com/~ann/page?a=1&b=2"


def test_https_default_port_idna_and_non_ascii_paths() -> None:
    assert canonical_url("https://example.com:443/x") == canonical_url("https://example.com/x")
    assert canonical_url("https://example.com:8443/x") == "https://example.com:8443/x"  # not a default port
    assert canonical_url("http://example.com:443/x") == "http://example.com:443/x"  # 443 is not http's
    assert canonical_url("http://münchen.de/straße") == canonical_url("http://xn--mnchen-3ya.de/stra%C3%9Fe")
    assert canonical_url("http://MÜNCHEN.de/") == "http://xn--mnchen-3ya.de/"


def test_different_pages_stay_different() -> None:
    assert canonical_url("http://example.com/a?id=1") != canonical_url("http://example.com/a?id=2")
    assert canonical_url("http://example.com/A") != canonical_url(
        "http://example.com/a"
    )  # paths are case-sensitive
    assert canonical_url("https://example.com/a") != canonical_url("http://example.com/a")
    assert canonical_url("http://example.com/a%2Fb") != canonical_url("http://example.com/a/b")  # %2F is data
    assert canonical_url("http://example.com/a?q=") != canonical_url("http://example.com/a")


def test_tracking_removal_is_switchable_and_only_tracking_goes() -> None:
    url = "http://example.com/a?utm_campaign=x&page=2&fbclid=y"
    assert canonical_url(url) == "http://example.com/a?page=2"
    assert "utm_campaign" in canonical_url(url, UrlConfig(remove_tracking=False))
    assert canonical_url("http://example.com/a?utm_source=x") == "http://example.com/a"
    assert canonical_url("http://example.com/?butm_x=1") == "http://example.com/?butm_x=1"


def test_junk_never_raises() -> None:
    for junk in (
        "",
        "not a url",
        "http://[::1",
        "http://exa mple.com/ x",
        "http://example.com:99999/",
        "\x00\xff",
    ):
        assert isinstance(canonical_url(junk), str)
