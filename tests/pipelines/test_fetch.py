"""pipelines.io.fetch against a real server on 127.0.0.1: every endpoint's fate and reason."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import replace

import pytest

from filters.base import Drop
from filters.image import ProcessedImage, process_image
from pipelines.io.fetch import (
    ROBOTS_CACHE,
    USER_AGENT,
    FetchConfig,
    Fetched,
    Fetcher,
    blocked_reason,
    fetch_urls,
    opted_out,
    parse_retry_after,
)
from tests.http_server import TestHTTPServer, sample_images

# Short limits keep the suite fast: 1 s timeout, quick backoff, small body limit.
LOCAL = FetchConfig(
    timeout=1.0,
    retries=1,
    backoff_base=0.05,
    max_retry_after=2.0,
    max_bytes=2_000_000,
    allow_private_network=True,
)

# path -> (fetch fate: "kept" or drop reason, fate after image decode/filters)
FATES: dict[str, tuple[str, str]] = {
    "/img/astronaut.jpg": ("kept", "kept"),
    "/img/chelsea.png": ("kept", "kept"),
    "/img/coffee.webp": ("kept", "kept"),
    "/img/rocket-cmyk.jpg": ("kept", "kept"),
    "/img/logo-palette-alpha.png": ("kept", "kept"),
    "/img/camera-16bit.png": ("kept", "kept"),
    "/missing": ("http_error", "http_error"),
    "/flaky/a": ("kept", "kept"),
    "/always-500": ("http_error", "http_error"),
    "/rate-limited/a": ("kept", "kept"),
    "/always-429": ("http_error", "http_error"),
    "/hang": ("timeout", "timeout"),
    "/cut-short": ("connection_error", "connection_error"),
    "/html-as-jpeg": ("kept", "undecodable_image"),
    "/html": ("bad_content_type", "bad_content_type"),
    "/bomb.png": ("kept", "decompression_bomb"),
    "/redirect-loop/a": ("too_many_redirects", "too_many_redirects"),
    "/redirect-chain/2": ("kept", "kept"),
    "/redirect-chain/8": ("too_many_redirects", "too_many_redirects"),
    "/huge-content-length": ("too_large", "too_large"),
    "/endless": ("too_large", "too_large"),
    "/noai": ("opted_out", "opted_out"),
    "/noimageai-scoped": ("opted_out", "opted_out"),
    "/noai-other-bot": ("kept", "kept"),
    "/tiny.png": ("kept", "image_too_small"),
    "/single-color.png": ("kept", "single_color"),
    "/private/astronaut.jpg": ("robots_disallowed", "robots_disallowed"),
    "/other-bots-only/astronaut.jpg": ("kept", "kept"),
    "/octet-stream": ("kept", "kept"),
}


def _fate(result: Fetched | Drop | ProcessedImage) -> str:
    return result.reason if isinstance(result, Drop) else "kept"


@pytest.fixture(scope="module")
def batch() -> dict[str, object]:
    """One batch of every endpoint through one Fetcher (as a DoFn would), then the image filter."""
    ROBOTS_CACHE.clear()
    with TestHTTPServer() as server:
        urls = [server.url(p) for p in FATES]
        results = fetch_urls(urls, LOCAL)
        requests = list(server.requests)
    return {"results": dict(zip(FATES, results, strict=True)), "requests": requests}


@pytest.mark.parametrize("path", list(FATES))
def test_each_endpoint_fate_and_reason(batch: dict, path: str) -> None:
    fetch_fate, final_fate = FATES[path]
    result = batch["results"][path]
    assert _fate(result) == fetch_fate, result
    after = process_image(result.content) if isinstance(result, Fetched) else result
    assert _fate(after) == final_fate, after


def test_batch_accounting(batch: dict) -> None:
    results = batch["results"]
    kept = sum(isinstance(r, Fetched) for r in results.values())
    dropped = sum(isinstance(r, Drop) for r in results.values())
    assert kept + dropped == len(FATES) == len(results)
    assert kept == sum(fate == "kept" for fate, _ in FATES.values())


def test_honest_user_agent_on_every_request(batch: dict) -> None:
    agents = {headers.get("User-Agent") for _, _, headers in batch["requests"]}
    assert agents == {USER_AGENT}
    assert "kosmos-corpus" in USER_AGENT and "https://" in USER_AGENT


def test_robots_txt_fetched_once_per_host(batch: dict) -> None:
    robots = [p for _, p, _ in batch["requests"] if p == "/robots.txt"]
    assert len(robots) == 1


def test_disallowed_and_opted_out_bodies_are_never_requested_or_kept(batch: dict) -> None:
    paths = [p for _, p, _ in batch["requests"]]
    assert "/private/astronaut.jpg" not in paths  # robots.txt decided before any request
    assert batch["results"]["/noai"].detail == "X-Robots-Tag: noai"


def test_redirects_report_the_final_url_and_requests_sent(batch: dict) -> None:
    result = batch["results"]["/redirect-chain/2"]
    assert isinstance(result, Fetched)
    assert result.final_url.endswith("/img/astronaut.jpg") and result.url.endswith("/redirect-chain/2")
    assert result.attempts == 4
    assert result.content == sample_images()["astronaut.jpg"]
    assert "loop" in batch["results"]["/redirect-loop/a"].detail


def test_retry_after_is_honoured(http_server: TestHTTPServer) -> None:
    start = time.monotonic()
    [result] = fetch_urls([http_server.url("/rate-limited/x")], LOCAL)
    assert isinstance(result, Fetched) and result.attempts == 2
    assert time.monotonic() - start >= 0.95  # Retry-After: 1, not the 0.05 s backoff


def test_retry_after_above_the_cap_gives_up_at_once(http_server: TestHTTPServer) -> None:
    start = time.monotonic()
    [result] = fetch_urls([http_server.url("/always-429")], LOCAL)
    assert isinstance(result, Drop) and result.reason == "http_error" and "cap" in result.detail
    assert time.monotonic() - start < 30  # did not wait the 3600 s
    assert http_server.request_count("/always-429") == 1


def test_retries_are_bounded(http_server: TestHTTPServer) -> None:
    [result] = fetch_urls([http_server.url("/always-500")], replace(LOCAL, retries=2))
    assert isinstance(result, Drop) and result.reason == "http_error"
    assert http_server.request_count("/always-500") == 3
    [flaky] = fetch_urls([http_server.url("/flaky/no-retry")], replace(LOCAL, retries=0))
    assert isinstance(flaky, Drop) and flaky.reason == "http_error"


def test_timeout_is_not_retried_by_default(http_server: TestHTTPServer) -> None:
    start = time.monotonic()
    [result] = fetch_urls([http_server.url("/hang")], LOCAL)
    assert isinstance(result, Drop) and result.reason == "timeout"
    assert time.monotonic() - start > 0.9
    assert http_server.request_count("/hang") == 1


def test_size_limit_applies_to_honest_and_lying_servers(http_server: TestHTTPServer) -> None:
    small = replace(LOCAL, max_bytes=10_000)
    start = time.monotonic()
    results = fetch_urls(
        [http_server.url(p) for p in ("/img/astronaut.jpg", "/huge-content-length", "/endless")], small
    )
    assert [_fate(r) for r in results] == ["too_large"] * 3
    assert time.monotonic() - start < 8  # stopped reading: /endless streams for 10 s, 2 GB never comes


def test_content_type_check_is_configurable(http_server: TestHTTPServer) -> None:
    [html] = fetch_urls([http_server.url("/html")], replace(LOCAL, content_types=("text/html",)))
    assert isinstance(html, Fetched) and html.content_type == "text/html"
    [img] = fetch_urls([http_server.url("/img/astronaut.jpg")], replace(LOCAL, content_types=("text/html",)))
    assert isinstance(img, Drop) and img.reason == "bad_content_type"


def test_per_host_concurrency_cap(http_server: TestHTTPServer) -> None:
    urls = [http_server.url(f"/slow/{i}") for i in range(12)]
    results = fetch_urls(urls, replace(LOCAL, max_per_host=3))
    assert all(isinstance(r, Fetched) for r in results)
    assert 2 <= http_server.max_in_flight <= 3


def test_each_result_is_reported_as_it_lands(http_server: TestHTTPServer) -> None:
    """on_result gets every URL once, with its index, as soon as it is done: a slow URL does not hold
    back the report of a quick one (the download phase starts decoding early bodies this way)."""
    urls = [http_server.url("/slow/a"), http_server.url("/img/astronaut.jpg"), http_server.url("/missing")]
    reported: list[tuple[int, Fetched | Drop]] = []
    with Fetcher(LOCAL) as fetcher:
        results = fetcher.fetch(urls, on_result=lambda i, r: reported.append((i, r)))
    assert sorted(i for i, _ in reported) == [0, 1, 2]
    assert all(results[i] is r for i, r in reported)
    assert reported[-1][0] == 0  # the 0.2 s URL is reported last though it is first in the batch
    assert isinstance(results[1], Fetched) and isinstance(results[2], Drop)


def test_robots_cache_is_shared_by_fetchers_in_a_process(http_server: TestHTTPServer) -> None:
    with Fetcher(LOCAL) as first:
        first.fetch([http_server.url("/img/astronaut.jpg"), http_server.url("/img/chelsea.png")])
        first.fetch([http_server.url("/img/coffee.webp")])
    with Fetcher(LOCAL) as second:
        [denied] = second.fetch([http_server.url("/private/chelsea.png")])
    assert isinstance(denied, Drop) and denied.reason == "robots_disallowed"
    assert http_server.request_count("/robots.txt") == 1


def test_robots_txt_server_error_disallows_the_host() -> None:
    ROBOTS_CACHE.clear()
    with TestHTTPServer(robots_status=503) as server:
        [result] = fetch_urls([server.url("/img/astronaut.jpg")], LOCAL)
        assert isinstance(result, Drop) and result.reason == "robots_disallowed"
        assert server.request_count("/img/astronaut.jpg") == 0


def test_missing_robots_txt_allows_everything() -> None:
    ROBOTS_CACHE.clear()
    with TestHTTPServer(robots_status=404) as server:
        [result] = fetch_urls([server.url("/private/astronaut.jpg")], LOCAL)
        assert isinstance(result, Fetched)


def test_robots_can_be_switched_off(http_server: TestHTTPServer) -> None:
    [result] = fetch_urls(
        [http_server.url("/private/astronaut.jpg")], replace(LOCAL, respect_robots_txt=False)
    )
    assert isinstance(result, Fetched)
    assert http_server.request_count("/robots.txt") == 0


# ---- network safety ----------------------------------------------------------------------------


def test_without_allow_private_network_nothing_is_sent(http_server: TestHTTPServer) -> None:
    urls = [http_server.url(p) for p in FATES] + [f"http://localhost:{http_server.port}/img/astronaut.jpg"]
    results = fetch_urls(urls, replace(LOCAL, allow_private_network=False))
    assert [_fate(r) for r in results] == ["blocked_address"] * len(urls)
    assert http_server.request_count() == 0
    assert http_server.connections == 0


def test_every_redirect_hop_is_checked_before_sending(http_server: TestHTTPServer) -> None:
    """Only 127.0.0.1 is allowed: the redirect to 10.0.0.1 is refused without a connection."""
    cfg = replace(LOCAL, allow_private_network=False, allowed_networks=("127.0.0.1/32",))
    [ok, hop] = fetch_urls([http_server.url("/img/astronaut.jpg"), http_server.url("/redirect-private")], cfg)
    assert isinstance(ok, Fetched)
    assert isinstance(hop, Drop) and hop.reason == "blocked_address" and "10.0.0.1" in hop.detail


def test_connection_goes_to_the_checked_address(
    http_server: TestHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: a name that answers 127.0.0.1 (allowed) once, then 10.0.0.1, is looked up once;
    the connection uses the checked answer, never a second, unchecked one."""
    lookups: list[str] = []
    real = asyncio.BaseEventLoop.getaddrinfo

    async def rebinding(
        self: asyncio.BaseEventLoop, host: str, port: int, *args: object, **kw: object
    ) -> list:
        if host != "rebind.test":
            return await real(self, host, port, *args, **kw)
        lookups.append(host)
        ip = "127.0.0.1" if len(lookups) == 1 else "10.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", rebinding)
    cfg = replace(LOCAL, allow_private_network=False, allowed_networks=("127.0.0.1/32",))
    urls = [
        f"http://rebind.test:{http_server.port}/img/astronaut.jpg",
        f"http://rebind.test:{http_server.port}/tiny.png",
    ]
    results = fetch_urls(urls, cfg)
    assert all(isinstance(r, Fetched) for r in results), results
    assert lookups == ["rebind.test"]


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/a.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/a.jpg",
        "http://0.0.0.0/a.jpg",
        "http://2130706433/a.jpg",
        "http://[::ffff:127.0.0.1]/a.jpg",
        "http://100.64.0.1/a.jpg",
        "http://224.0.0.1/a.jpg",
    ],
)
def test_internal_addresses_are_blocked(url: str) -> None:
    [result] = fetch_urls([url], FetchConfig(timeout=1.0))
    assert isinstance(result, Drop) and result.reason == "blocked_address", result


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("192.168.1.1", "private"),
        ("172.16.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("::1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),
        ("100.64.0.1", "not globally routable"),
        ("0.0.0.0", "private"),
        ("240.0.0.1", "private"),
    ],
)
def test_blocked_reason(ip: str, expected: str | None) -> None:
    assert blocked_reason(ip) == expected
    assert blocked_reason(ip, ("0.0.0.0/0", "::/0")) is None


def test_unknown_host_is_a_connection_error() -> None:
    [result] = fetch_urls(
        ["http://does-not-exist.invalid/a.jpg"], replace(LOCAL, allow_private_network=False)
    )
    assert isinstance(result, Drop) and result.reason == "connection_error" and "DNS" in result.detail


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.jpg",
        "http://",
        "not a url",
        "javascript:alert(1)",
        "http://example.com:99999/a.jpg",
        "",
    ],
)
def test_invalid_urls(url: str) -> None:
    [result] = fetch_urls([url], LOCAL)
    assert isinstance(result, Drop) and result.reason == "invalid_url", result


def test_non_string_url_is_invalid() -> None:
    [result] = fetch_urls([None], LOCAL)  # type: ignore[list-item]
    assert isinstance(result, Drop) and result.reason == "invalid_url"


# ---- header parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["noai"], "noai"),
        (["NoImageAI"], "noimageai"),
        (["noindex, nofollow"], "noindex"),
        (["kosmos-corpus: noimageindex"], "noimageindex"),
        (["otherbot: noai"], None),
        (["nofollow"], None),
        (["otherbot: noai", "kosmos-corpus: none"], "none"),
        (["unavailable_after: 2030-01-01"], None),
        ([], None),
    ],
)
def test_opted_out(values: list[str], expected: str | None) -> None:
    assert opted_out(values) == expected


def test_parse_retry_after() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
