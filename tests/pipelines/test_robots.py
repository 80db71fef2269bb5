"""robots.txt by RFC 9309: the published examples of the RFC as conformance cases, then the fetcher.

The robots.txt texts and verdicts below are the RFC's own examples (sections 2.2.1, 2.2.2, 2.2.3
and 5.1-5.2), plus the precedence rules its text states: the most specific (longest) match wins,
`allow` wins a tie, `*` matches any sequence and `$` the end of the path, groups naming the same
agent are merged, agents match case-insensitively, and `*` is the fallback group.
"""

from __future__ import annotations

import pytest

from filters.base import Drop
from pipelines.io.fetch import ROBOTS_CACHE, Fetched, fetch_urls, parse_robots_txt, robots_allows
from tests.http_server import TestHTTPServer
from tests.pipelines.test_fetch import LOCAL

# RFC 9309 section 5.1 (simple example) and 5.2 (longest match).
RFC_5_1 = """\
User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/

User-Agent: foobot
Disallow:/
Allow:/example/page.html
Allow:/example/allowed.gif

User-Agent: barbot
User-Agent: bazbot
Disallow: /example/page.html

User-Agent: quxbot

EOF
"""
RFC_5_2 = """\
User-Agent: foobot
Allow: /example/page/
Disallow: /example/page/disallowed.gif
"""
# Section 2.2.1: groups with the same agent are combined.
RFC_MERGE = """\
user-agent: ExampleBot
disallow: /foo
disallow: /bar

user-agent: ExampleBot
disallow: /baz
"""
# Section 2.2.2/2.2.3: allow over disallow on a tie, special characters, percent-encoding.
TIE = "user-agent: *\nallow: /folder\ndisallow: /folder\n"
WILDCARDS = """\
User-agent: *
Disallow: /*.php$
Disallow: /fish*.php
Disallow: /private/*/secret
Allow: /$
Disallow: /
"""
ENCODED = "User-agent: *\nDisallow: /foo/bar/%E3%83%84\nDisallow: /baz/%62%61%7A\n"

CASES: list[tuple[str, str, str, bool]] = [
    # RFC 9309 5.1
    (RFC_5_1, "foobot", "/example/page.html", True),
    (RFC_5_1, "foobot", "/example/allowed.gif", True),
    (RFC_5_1, "foobot", "/example/disallowed.gif", False),
    (RFC_5_1, "foobot", "/anything", False),
    (RFC_5_1, "barbot", "/example/page.html", False),
    (RFC_5_1, "bazbot", "/example/page.html", False),
    (RFC_5_1, "barbot", "/example/other.html", True),
    (RFC_5_1, "quxbot", "/example/page.html", True),  # an empty group allows everything
    (RFC_5_1, "kosmos-corpus", "/publications/x", True),  # falls back to the `*` group
    (RFC_5_1, "kosmos-corpus", "/example/x", False),
    (RFC_5_1, "kosmos-corpus", "/picture.gif", False),  # `*` and `$`
    (RFC_5_1, "kosmos-corpus", "/picture.gif?size=2", True),  # `$` anchors the end
    (RFC_5_1, "FooBot", "/example/page.html", True),  # agents are case-insensitive
    # RFC 9309 5.2: the longest match wins
    (RFC_5_2, "foobot", "/example/page/", True),
    (RFC_5_2, "foobot", "/example/page/disallowed.gif", False),
    (RFC_5_2, "foobot", "/example/page/ok.gif", True),
    # RFC 9309 2.2.1: merged groups
    (RFC_MERGE, "examplebot", "/foo", False),
    (RFC_MERGE, "ExampleBot", "/bar", False),
    (RFC_MERGE, "examplebot", "/baz", False),
    (RFC_MERGE, "examplebot", "/qux", True),
    # RFC 9309 2.2.2: equivalent allow and disallow -> allow
    (TIE, "kosmos-corpus", "/folder/page", True),
    # RFC 9309 2.2.3: special characters
    (WILDCARDS, "kosmos-corpus", "/", True),
    (WILDCARDS, "kosmos-corpus", "/index.php", False),
    (WILDCARDS, "kosmos-corpus", "/fish.php", False),
    (WILDCARDS, "kosmos-corpus", "/fishheads/catfish.php?parameters", False),
    (WILDCARDS, "kosmos-corpus", "/private/a/b/secret/x", False),
    (WILDCARDS, "kosmos-corpus", "/anything-else", False),
    (ENCODED, "kosmos-corpus", "/foo/bar/\u30c4", False),  # matched in percent-encoded form
    (ENCODED, "kosmos-corpus", "/foo/bar/%E3%83%84", False),
    (ENCODED, "kosmos-corpus", "/baz/baz", False),  # %62%61%7A is "baz"
]


@pytest.mark.parametrize(("robots", "agent", "path", "allowed"), CASES)
def test_rfc9309_conformance(robots: str, agent: str, path: str, allowed: bool) -> None:
    rules = parse_robots_txt(robots.encode())
    assert robots_allows(rules, "https://example.com" + path, agent) is allowed


def test_urllib_robotparser_gets_these_wrong() -> None:
    """Why protego: the standard library's parser fails the RFC's precedence and wildcard cases."""
    import urllib.robotparser

    wrong = 0
    for robots, agent, path, allowed in CASES:
        parser = urllib.robotparser.RobotFileParser()
        parser.parse(robots.splitlines())
        wrong += parser.can_fetch(agent, "https://example.com" + path) is not allowed
    assert wrong >= 5


@pytest.mark.parametrize(
    "body",
    [
        b"\xef\xbb\xbfUser-agent: *\nDisallow: /private/\n",
        b"\xef\xbb\xbfuser-agent: kosmos-corpus\r\ndisallow: /private/\r\n",
        "User-agent: *\nDisallow: /private/\n# caf\u00e9 \udcff\n".encode("utf-8", "surrogatepass"),
    ],
)
def test_bom_and_bad_bytes_do_not_hide_the_rules(body: bytes) -> None:
    rules = parse_robots_txt(body)
    assert not robots_allows(rules, "https://example.com/private/a.jpg")
    assert robots_allows(rules, "https://example.com/public/a.jpg")


def test_fetcher_applies_rfc_precedence() -> None:
    """Through the fetcher: the longest match and `$` decide, and disallowed URLs are never requested."""
    robots = "User-agent: *\nDisallow: /img/\nAllow: /img/chelsea.png$\nDisallow: /*.webp$\n"
    ROBOTS_CACHE.clear()
    with TestHTTPServer(robots_txt=robots) as server:
        paths = ["/img/chelsea.png", "/img/astronaut.jpg", "/octet-stream", "/img/coffee.webp"]
        results = fetch_urls([server.url(p) for p in paths], LOCAL)
        fates = ["kept" if isinstance(r, Fetched) else r.reason for r in results]
        assert fates == ["kept", "robots_disallowed", "kept", "robots_disallowed"]
        assert all(isinstance(r, Drop) or r.status == 200 for r in results)
        assert server.request_count("/img/astronaut.jpg") == 0
    ROBOTS_CACHE.clear()
