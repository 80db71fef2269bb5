"""Connection reuse in the fetcher (pipelines/io/fetch/network.py): a kept-alive connection is reused,
and one the server closed while it sat idle in the pool is noticed and replaced, not sent on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipelines.io.fetch import ROBOTS_CACHE, FetchConfig, Fetched, Fetcher
from tests.http_server import send_body

LOCAL = FetchConfig(timeout=1.0, retries=1, backoff_base=0.05, allow_private_network=True)
BODY = b"\xff\xd8\xff image bytes"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the handler closes
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append((self.client_address, self.path))
        found = self.path.startswith("/img")
        if found:
            send_body(self, 200, BODY, "image/jpeg")
        else:
            send_body(self, 404, b"no", "text/plain")
        # /img/drop: answer as keep-alive, then hang up (a server's idle timeout, compressed in time)
        self.close_connection = self.path == "/img/drop"
        if self.close_connection:
            self.server.dropped.add(self.client_address)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests: list
    dropped: set
    hung_up: threading.Event

    def shutdown_request(self, request) -> None:  # type: ignore[no-untyped-def]
        try:
            peer = request.getpeername()
        except OSError:  # the client already went away
            peer = None
        super().shutdown_request(request)
        # Only the hang-up of the connection that served /img/drop counts: the robots.txt connection
        # (or any other) closing first must not release the test early.
        if peer in self.dropped:
            self.hung_up.set()


@pytest.fixture
def server() -> Iterator[_Server]:
    ROBOTS_CACHE.clear()
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.requests = []
    srv.dropped = set()
    srv.hung_up = threading.Event()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _url(srv: _Server, path: str) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}{path}"


def test_a_kept_alive_connection_is_reused(server: _Server) -> None:
    with Fetcher(LOCAL) as fetcher:
        first = fetcher.fetch([_url(server, "/img/a")])
        second = fetcher.fetch([_url(server, "/img/b")])
    assert all(isinstance(r, Fetched) and r.content == BODY for r in first + second)
    images = [addr for addr, path in server.requests if path.startswith("/img")]
    assert len(images) == 2 and images[0] == images[1]  # both on one connection


def test_a_connection_closed_while_idle_is_replaced_not_sent_on(server: _Server) -> None:
    with Fetcher(LOCAL) as fetcher:
        [first] = fetcher.fetch([_url(server, "/img/drop")])
        # The hang-up races the next request on a busy machine: wait until the server has closed
        # (the client cannot know of a close whose FIN has not arrived yet).
        assert server.hung_up.wait(5)
        [second] = fetcher.fetch([_url(server, "/img/b")])
    assert isinstance(first, Fetched) and isinstance(second, Fetched)
    assert second.attempts == 1  # no failed send on the dead connection, no retry
    assert server.requests[-1][0] != server.requests[-2][0]  # a new connection for the second image
