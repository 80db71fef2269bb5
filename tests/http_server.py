"""A real HTTP server on 127.0.0.1 for tests: real photographs and hostile endpoints.

Reusable by any test (fetcher, image-text pipeline, interleaved pipeline):

    with TestHTTPServer() as server:
        url = server.url("/img/astronaut.jpg")
        ...
        assert server.request_count() == 0

It runs in a background thread (one thread per connection, so a hanging endpoint blocks nothing
else) and counts every TCP connection and every request it receives, so a test can assert that
nothing was sent. Images are real photographs from scikit-image's wheel (`skimage.data`), encoded
by `sample_images()` in the formats the web serves; `ENDPOINTS` documents every path.
"""

from __future__ import annotations

import contextlib
import functools
import io
import socket
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

ROBOTS_TXT = """\
User-agent: kosmos-corpus
Disallow: /private/

User-agent: *
Disallow: /private/
Disallow: /other-bots-only/
"""

ENDPOINTS: dict[str, str] = {
    "/img/<name>": "a sample image from sample_images() with its content type (200)",
    "/robots.txt": "ROBOTS_TXT (disallows /private/ for every agent), or robots_body with robots_headers",
    "/private/<name>": "an image under a path robots.txt disallows",
    "/other-bots-only/<name>": "an image disallowed for other agents only (we may fetch it)",
    "/missing": "404",
    "/flaky/<id>": "500 on the first request per id, then the photo (retry works)",
    "/always-500": "500 every time",
    "/rate-limited/<id>": "429 with Retry-After: 1 on the first request per id, then the photo",
    "/always-429": "429 with Retry-After: 3600 every time (the cap must apply)",
    "/hang": "accepts, reads the request, never answers",
    "/cut-short": "Content-Length of the whole photo, half the body, then the connection closes",
    "/html-as-jpeg": "an HTML page served as image/jpeg",
    "/html": "an HTML page served as text/html",
    "/bomb.png": "a valid 1-bit PNG of 20000x20000 px (a decompression bomb, 50 KB on the wire)",
    "/redirect-loop/a": "302 -> /redirect-loop/b -> 302 -> /redirect-loop/a",
    "/redirect-chain/<n>": "302 -> /redirect-chain/<n-1> ... /redirect-chain/0 -> 302 /img/astronaut.jpg",
    "/redirect-private": "302 -> http://10.0.0.1/x (a private address: must be refused unsent)",
    "/huge-content-length": "claims Content-Length: 2147483648 (2 GB) and sends 1 MB",
    "/endless": "chunked body without Content-Length that never ends",
    "/noai": "the photo with X-Robots-Tag: noai",
    "/noimageai-scoped": "the photo with X-Robots-Tag: kosmos-corpus: noimageai",
    "/noai-other-bot": "the photo with X-Robots-Tag: otherbot: noai (not for us: kept)",
    "/tiny.png": "a 32x32 PNG",
    "/single-color.png": "a 400x300 PNG of one colour",
    "/octet-stream": "the photo served as application/octet-stream",
    "/slow/<id>": "the photo after 0.2 s (the server records how many requests were in flight at once)",
    "/encoded/<codings>": "the photo with Content-Encoding <codings> (e.g. br, zstd, gzip,gzip), honestly encoded",
    "/bomb/<codings>": "BOMB_BYTES zero bytes encoded with <codings>: a few KB on the wire",
    "/corrupt-gzip": "Content-Encoding: gzip over bytes that are not gzip",
    "/drip": "Content-Length of the photo, then one byte every 0.3 s (never done within a short timeout)",
    "/retry-after-odd/<id>": "429 with a non-ASCII Retry-After on the first request per id, then the photo",
    "/x-robots-tag/<case>": "the photo with the X-Robots-Tag headers XRT_CASES[<case>] (several headers allowed)",
}

BOMB_BYTES = 256 * 1024 * 1024
"""Decoded size of every /bomb/ body (the fetch tests use a 2 MB limit)."""

XRT_CASES: dict[str, tuple[str, ...]] = {
    "noai-then-date": ("noai, unavailable_after: 25 Jun 2030 15:00:00 PST",),
    "date-then-noai": ("unavailable_after: Sunday, 01-Jul-35 07:00:00 PST, noai",),
    "scoped-list": ("googlebot: noindex, kosmos-corpus: noai",),
    "scoped-continues": ("kosmos-corpus: nofollow, noimageai",),
    "other-scope-list": ("googlebot: noindex, noai", "kosmos-corpus: nofollow"),
    "two-headers": ("nofollow", "noai"),
    "past-date": ("unavailable_after: 2001-01-01T00:00:00Z",),
    "future-date": ("unavailable_after: 2099-01-01T00:00:00Z, nofollow",),
}
"""X-Robots-Tag cases: each tuple is the headers sent (the opt-out tests name the expected verdict)."""


def encode_body(data: bytes | Iterator[bytes], codings: str) -> bytes:
    """`data` (bytes or an iterator of chunks, streamed) encoded with each coding in order."""
    import brotli
    import zstandard

    chunks: Iterator[bytes] = iter([data]) if isinstance(data, bytes) else data
    for coding in [c.strip() for c in codings.split(",") if c.strip()]:
        if coding in ("gzip", "deflate"):
            comp = zlib.compressobj(9, zlib.DEFLATED, 31 if coding == "gzip" else 15)
            out = b"".join(comp.compress(c) for c in chunks) + comp.flush()
        elif coding == "br":
            br = brotli.Compressor(quality=5)
            out = b"".join(br.process(c) for c in chunks) + br.finish()
        elif coding == "zstd":
            zc = zstandard.ZstdCompressor().compressobj()
            out = b"".join(zc.compress(c) for c in chunks) + zc.flush()
        else:
            raise ValueError(coding)
        chunks = iter([out])
    return b"".join(chunks)


@functools.cache
def bomb_body(codings: str) -> bytes:
    """BOMB_BYTES zeros encoded with `codings` (built once, streamed: never held decoded)."""
    block = b"\0" * (1024 * 1024)
    return encode_body((block for _ in range(BOMB_BYTES // len(block))), codings)


_CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}
HTML_PAGE = b"<!doctype html><html><head><title>Not an image</title></head><body><p>Hello</p></body></html>"


def _encode(im: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _photo(name: str) -> Image.Image:
    import skimage.data

    arr = getattr(skimage.data, name)()
    return Image.fromarray(arr)


def _transparent_background(im: Image.Image) -> Image.Image:
    """Make the near-white background fully transparent, with black under it (so a decoder that
    ignores alpha shows black where a correct one composites onto white)."""
    arr = np.array(im.convert("RGBA"))
    background = (arr[..., :3] > 240).all(-1)
    arr[background] = (0, 0, 0, 0)
    return Image.fromarray(arr, "RGBA")


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid, fully decodable 1-bit PNG of `width` x `height` zeros: tiny on the wire, huge in RAM."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@functools.cache
def sample_images() -> dict[str, bytes]:
    """Real photographs (skimage.data) in the sizes and formats the web serves, plus edge cases.

    Keys are file names; the extension gives the content type. Cached: built once per process.
    """
    astronaut = _photo("astronaut")  # 512x512 RGB
    chelsea = _photo("chelsea")  # 451x300 RGB
    coffee = _photo("coffee")  # 600x400 RGB
    camera = _photo("camera")  # 512x512 L
    logo = _transparent_background(
        _photo("logo")
    )  # 500x500 RGBA, ~30% fully transparent (black under alpha 0)
    rocket = _photo("rocket")  # 640x427 RGB
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, displayed portrait (rotate 90 degrees clockwise)
    frames = [coffee, coffee.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    animated = io.BytesIO()
    frames[0].save(animated, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    photo_jpg = _encode(astronaut, "JPEG", quality=90)
    return {
        "astronaut.jpg": photo_jpg,
        "astronaut-1600.jpg": _encode(
            astronaut.resize((1600, 1600), Image.Resampling.BICUBIC), "JPEG", quality=88
        ),
        "chelsea.png": _encode(chelsea, "PNG"),
        "coffee.webp": _encode(coffee, "WEBP", quality=85),
        "camera-gray.jpg": _encode(camera, "JPEG", quality=90),
        "rocket-cmyk.jpg": _encode(rocket.convert("CMYK"), "JPEG", quality=90),
        "logo-palette-alpha.png": _encode(logo.quantize(255), "PNG"),
        "logo-rgba.png": _encode(logo, "PNG"),
        "camera-16bit.png": _encode(Image.fromarray(np.asarray(camera, dtype=np.uint16) * 257), "PNG"),
        "chelsea-exif-rot6.jpg": _encode(chelsea, "JPEG", quality=90, exif=exif),
        "coffee-animated.gif": animated.getvalue(),
        "astronaut-truncated.jpg": photo_jpg[: len(photo_jpg) // 2],
        "tiny.png": _encode(astronaut.resize((32, 32)), "PNG"),
        "single-color.png": _encode(Image.new("RGB", (400, 300), (200, 30, 60)), "PNG"),
        "panorama.jpg": _encode(coffee.resize((1200, 200)), "JPEG", quality=90),
        "not-an-image.jpg": HTML_PAGE,
        "bomb.png": bomb_png(),
    }


def send_body(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    """One whole response with a Content-Length (keep-alive stays possible), for the small servers
    some tests define around one behaviour."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def content_type_for(name: str) -> str:
    return _CONTENT_TYPES.get(name.rsplit(".", 1)[-1], "application/octet-stream")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence the test log
        pass

    def do_HEAD(self) -> None:
        self._count()
        self._send(405, b"", "text/plain")

    def do_GET(self) -> None:
        self._count()
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        images = sample_images()
        photo = images["astronaut.jpg"]
        if path == "/robots.txt":
            body = owner.robots_body if owner.robots_body is not None else owner.robots_txt.encode()
            return self._send(owner.robots_status, body, "text/plain", owner.robots_headers)
        if path.startswith("/slow/"):
            with owner.in_flight():
                time.sleep(0.2)
                return self._send(200, photo, "image/jpeg")
        for prefix in ("/img/", "/private/", "/other-bots-only/"):
            if path.startswith(prefix) and path[len(prefix) :] in images:
                name = path[len(prefix) :]
                return self._send(200, images[name], content_type_for(name))
        if path.startswith("/flaky/"):
            if owner.hits(path) == 1:
                return self._send(500, b"try again", "text/plain")
            return self._send(200, photo, "image/jpeg")
        if path == "/always-500":
            return self._send(500, b"broken", "text/plain")
        if path.startswith("/rate-limited/"):
            if owner.hits(path) == 1:
                return self._send(429, b"slow down", "text/plain", {"Retry-After": "1"})
            return self._send(200, photo, "image/jpeg")
        if path == "/always-429":
            return self._send(429, b"slow down", "text/plain", {"Retry-After": "3600"})
        if path == "/hang":
            owner.stopping.wait(60)
            return None
        if path == "/cut-short":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(photo)))
            self.end_headers()
            self.wfile.write(photo[: len(photo) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if path == "/html-as-jpeg":
            return self._send(200, HTML_PAGE, "image/jpeg")
        if path == "/html":
            return self._send(200, HTML_PAGE, "text/html; charset=utf-8")
        if path == "/bomb.png":
            return self._send(200, images["bomb.png"], "image/png")
        if path == "/redirect-loop/a":
            return self._redirect("/redirect-loop/b")
        if path == "/redirect-loop/b":
            return self._redirect("/redirect-loop/a")
        if path.startswith("/redirect-chain/"):
            n = int(path.rsplit("/", 1)[-1])
            return self._redirect(f"/redirect-chain/{n - 1}" if n > 0 else "/img/astronaut.jpg")
        if path == "/redirect-private":
            return self._redirect("http://10.0.0.1/x")
        if path == "/huge-content-length":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(2 * 1024**3))
            self.end_headers()
            self._write_quietly(b"\xff" * 1024 * 1024)
            self.close_connection = True
            return None
        if path == "/endless":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            block = b"\xff" * 65536
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not owner.stopping.is_set():
                if not self._write_quietly(b"%x\r\n%s\r\n" % (len(block), block)):
                    break
            self.close_connection = True
            return None
        if path == "/noai":
            return self._send(200, photo, "image/jpeg", {"X-Robots-Tag": "noai"})
        if path == "/noimageai-scoped":
            return self._send(200, photo, "image/jpeg", {"X-Robots-Tag": "kosmos-corpus: noimageai"})
        if path == "/noai-other-bot":
            return self._send(200, photo, "image/jpeg", {"X-Robots-Tag": "otherbot: noai"})
        if path == "/tiny.png":
            return self._send(200, images["tiny.png"], "image/png")
        if path == "/single-color.png":
            return self._send(200, images["single-color.png"], "image/png")
        if path == "/octet-stream":
            return self._send(200, photo, "application/octet-stream")
        if path.startswith("/encoded/"):
            codings = path[len("/encoded/") :]
            body = encode_body(photo, codings)
            return self._send(200, body, "image/jpeg", {"Content-Encoding": codings})
        if path.startswith("/bomb/"):
            codings = path[len("/bomb/") :]
            return self._send(200, bomb_body(codings), "image/png", {"Content-Encoding": codings})
        if path == "/corrupt-gzip":
            return self._send(
                200, b"this is not gzip at all" * 10, "image/jpeg", {"Content-Encoding": "gzip"}
            )
        if path == "/drip":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(photo)))
            self.end_headers()
            for byte in photo[:40]:
                if owner.stopping.wait(0.3) or not self._write_quietly(bytes([byte])):
                    break
                self.wfile.flush()
            self.close_connection = True
            return None
        if path.startswith("/retry-after-odd/"):
            if owner.hits(path) == 1:
                self.send_response(429)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "0")
                self._headers_buffer.append("Retry-After: ٣²\r\n".encode())  # UTF-8 bytes in a header
                self.end_headers()
                return None
            return self._send(200, photo, "image/jpeg")
        if path.startswith("/x-robots-tag/") and path[len("/x-robots-tag/") :] in XRT_CASES:
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(photo)))
            for value in XRT_CASES[path[len("/x-robots-tag/") :]]:
                self.send_header("X-Robots-Tag", value)
            self.end_headers()
            self._write_quietly(photo)
            return None
        return self._send(404, b"not found", "text/plain")

    def _count(self) -> None:
        self.server.owner.record(self.command, self.path, dict(self.headers.items()))

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self._write_quietly(body)

    def _redirect(self, location: str) -> None:
        self._send(302, b"", "text/plain", {"Location": location})

    def _write_quietly(self, data: bytes) -> bool:
        """Write, tolerating a client that hung up (the fetcher stops reading at its limits)."""
        try:
            self.wfile.write(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: a burst of concurrent connects overflows it and the
    # kernel drops SYNs, which the client only retransmits after 1 s (= a spurious 1 s timeout).
    request_queue_size = 256
    owner: TestHTTPServer

    def verify_request(self, request: object, client_address: object) -> bool:
        self.owner.connections += 1
        return True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client hanging up mid-body is expected here


class TestHTTPServer:
    """The server, its address, and what it has received."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        host: str = "127.0.0.1",
        robots_txt: str = ROBOTS_TXT,
        robots_status: int = 200,
        robots_body: bytes | None = None,
        robots_headers: dict[str, str] | None = None,
    ) -> None:
        self.robots_txt = robots_txt
        self.robots_status = robots_status
        self.robots_body = robots_body
        """Raw robots.txt bytes served instead of `robots_txt` (a BOM, a compressed or corrupt body)."""
        self.robots_headers = robots_headers
        self.max_in_flight = 0
        self._in_flight = 0
        self.stopping = threading.Event()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.connections = 0
        self._hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._httpd = _Server((host, 0), _Handler)
        self._httpd.owner = self
        self.host, self.port = self._httpd.server_address[:2]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> TestHTTPServer:
        sample_images()  # build fixtures before serving, so the first request is not slow
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> TestHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record(self, method: str, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((method, path, headers))

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Track concurrent requests (max_in_flight) for the politeness test."""
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def hits(self, path: str) -> int:
        """How many times `path` was requested so far, this one included (for 500-then-200)."""
        with self._lock:
            self._hits[path] += 1
            return self._hits[path]

    def request_count(self, path: str | None = None) -> int:
        """Requests received in total, or for one path."""
        with self._lock:
            return sum(1 for _, p, _ in self.requests if path is None or p.split("?", 1)[0] == path)

    def reset(self) -> None:
        """Forget what was received (requests, connections, per-path hit counts)."""
        with self._lock:
            self.requests.clear()
            self._hits.clear()
            self.connections = 0
            self.max_in_flight = 0
