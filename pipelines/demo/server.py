"""A small web site on 127.0.0.1 for the demo: real photographs and the pages that show them.

The demo crawls it with the real fetcher (robots.txt, opt-out headers, limits), so the main job
exercises the same path a crawl of the web does, without leaving the machine.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ROBOTS = b"User-agent: *\nDisallow: /private/\n"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep the demo output readable
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        files = self.server.files
        if path == "/robots.txt":
            return self._send(200, ROBOTS, "text/plain")
        if path in files:
            body, ctype, headers = files[path]
            return self._send(200, body, ctype, headers)
        return self._send(404, b"not found", "text/plain")

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5: a client with dozens of connections in flight
    # (img2dataset's threads, a crawler) would see dropped SYNs and wait a second per retry.
    request_queue_size = 256
    files: dict[str, tuple[bytes, str, dict[str, str]]]


class DemoSite:
    """Serve `files` (path -> (body, content type, extra headers)) until the context ends."""

    def __init__(self, files: dict[str, tuple[bytes, str, dict[str, str]]]) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.files = files
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, path: str, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> str:
        self._server.files[path] = (body, ctype, headers or {})
        return self.base_url + path

    def __enter__(self) -> DemoSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
