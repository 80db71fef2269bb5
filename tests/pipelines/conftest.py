"""Fixtures for pipeline tests: the real local HTTP server (tests/http_server.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.http_server import TestHTTPServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def _http_server_session() -> Iterator[TestHTTPServer]:
    with TestHTTPServer() as server:
        yield server


@pytest.fixture
def http_server(_http_server_session: TestHTTPServer) -> TestHTTPServer:
    """The shared server on 127.0.0.1, with its request counts reset and robots.txt uncached."""
    from pipelines.io.fetch import ROBOTS_CACHE

    _http_server_session.reset()
    ROBOTS_CACHE.clear()
    return _http_server_session
