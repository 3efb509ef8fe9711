"""A small HTTP reverse proxy in front of Orthanc, to put faults and bearer tokens in the way.

``FaultProxy`` forwards every request to an upstream DICOMweb root and can, on request:
ask for ``Authorization: Bearer TOKEN`` (Orthanc has no bearer support), answer the first
requests with an error status, or cut a multipart answer off after a number of parts
(at once, or after ``stall_s`` seconds of silence)
(then, with ``die_after_drop``, refuse every later request as a server that went away),
or serve HTTPS with a given certificate (Orthanc 1.10.1 from Debian 12 crashes on its
first HTTPS request, so the tests put TLS in front of a plain Orthanc here).
``silent_port`` is a port that accepts connections and never answers.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FORWARDED = ("Accept", "Content-Type")


class _QuietServer(ThreadingHTTPServer):
    """A threading HTTP server that does not print the connections the faults break."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Broken connections are the point here."""


class FaultProxy:
    """Forward ``http://127.0.0.1:PORT/dicom-web/...`` to ``upstream`` with chosen faults."""

    def __init__(
        self,
        upstream: str,
        token: str = "",
        fail_first: int = 0,
        fail_status: int = 503,
        drop_after_parts: int | None = None,
        drop_times: int = 1,
        die_after_drop: bool = False,
        stall_s: float = 0.0,
        die_after_requests: int | None = None,
        tls_certificate: Path | None = None,
        tls_key: Path | None = None,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.token = token
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.drop_after_parts = drop_after_parts
        self.drop_times = drop_times
        self.die_after_drop = die_after_drop
        self.stall_s = stall_s
        self.die_after_requests = die_after_requests
        self.dead = False
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self.server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.scheme = "http"
        if tls_certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls_certificate, tls_key)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The proxied DICOMweb root."""
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}/dicom-web"

    def start(self) -> FaultProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

            def do_GET(self) -> None:
                self._forward("GET")

            def do_POST(self) -> None:
                self._forward("POST")

            def _forward(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy.lock:
                    proxy.requests.append(f"{method} {self.path}")
                    limit = proxy.die_after_requests
                    if limit is not None and len(proxy.requests) > limit:
                        proxy.dead = True
                    dead = proxy.dead
                    failing = proxy.fail_first > 0
                    if failing:
                        proxy.fail_first -= 1
                if dead:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if proxy.token and self.headers.get("Authorization") != f"Bearer {proxy.token}":
                    self._answer(401, b"", "text/plain")
                    return
                if failing:
                    self._answer(proxy.fail_status, b"busy", "text/plain")
                    return
                target = proxy.upstream + self.path[len("/dicom-web") :]
                request = urllib.request.Request(target, data=body, method=method)
                for name in FORWARDED:
                    if self.headers.get(name):
                        request.add_header(name, self.headers[name])
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        status, data = answer.status, answer.read()
                        content_type = answer.headers.get("Content-Type", "")
                except urllib.error.HTTPError as error:
                    status, data = error.code, error.read()
                    content_type = error.headers.get("Content-Type", "")
                cut = self._cut_point(data, content_type)
                self._answer(status, data, content_type, cut)

            def _cut_point(self, data: bytes, content_type: str) -> int | None:
                if proxy.drop_after_parts is None or "boundary=" not in content_type:
                    return None
                with proxy.lock:
                    if proxy.drop_times <= 0:
                        return None
                    proxy.drop_times -= 1
                    if proxy.die_after_drop:
                        proxy.dead = True
                boundary = content_type.split("boundary=")[1].split(";")[0].strip('"')
                delimiter = b"\r\n--" + boundary.encode()
                position = 0
                for _ in range(proxy.drop_after_parts):
                    position = data.index(delimiter, position + 1)
                return min(position + 200, len(data) - 1)  # part-way into the next part

            def _answer(
                self, status: int, data: bytes, content_type: str, cut: int | None = None
            ) -> None:
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if cut is None:
                    self.wfile.write(data)
                    return
                self.wfile.write(data[:cut])
                self.wfile.flush()
                if proxy.stall_s:
                    time.sleep(proxy.stall_s)  # a server that stops sending, then drops
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

        return Handler


@contextlib.contextmanager
def fault_proxy(upstream: str, **options: object) -> Iterator[FaultProxy]:
    """A running ``FaultProxy`` that is always stopped afterwards."""
    proxy = FaultProxy(upstream, **options).start()  # type: ignore[arg-type]
    try:
        yield proxy
    finally:
        proxy.stop()


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A loopback port whose listener accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()
