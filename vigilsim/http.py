"""The region's one HTTP port: a threaded HTTP/1.1 server routing path prefixes to the services.

Written on the standard library's ``http.server`` rather than a WSGI stack because the failure
modes need raw control of the connection: an "unreachable" API drops the connection without a
reply, an injected timeout hangs and then drops, a keep-alive connection left idle too long is
reset, and a Kubernetes watch streams chunks.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit


class DropConnection(Exception):
    """Close the client's connection without any reply (an unreachable or hung API)."""


@dataclass
class Request:
    method: str
    path: str  # below the service prefix, e.g. "/v2.1/servers"
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self):
        """The body as JSON; ``None`` when empty. Raises ValueError on malformed JSON."""
        if not self.body:
            return None
        return json.loads(self.body)


@dataclass
class Response:
    status: int = 200
    body: bytes | None = b""
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterable[bytes] | None = None  # chunked body (watches)

    @classmethod
    def json(cls, status: int, payload, headers: dict[str, str] | None = None) -> Response:
        return cls(
            status,
            json.dumps(payload, separators=(",", ":")).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )


Handler = Callable[[Request], Response]


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, *args):
        self.connections: set[socket.socket] = set()
        super().__init__(*args)

    def finish_request(self, request, client_address):
        self.connections.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            self.connections.discard(request)

    def close_connections(self) -> None:
        """End keep-alive connections and watches so their threads finish when the region stops."""
        for conn in list(self.connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class HttpServer:
    """Serves ``dispatch(request) -> Response`` on 127.0.0.1, one thread per connection."""

    def __init__(
        self,
        dispatch: Callable[[Request], Response],
        port: int = 0,
        date_header=None,
        idle_timeout: Callable[[], tuple[float, float] | None] | None = None,
        on_idle_drop: Callable[[Request], None] | None = None,
    ):
        """``idle_timeout()``: None (keep connections), or real seconds ``(timeout, race)``: a
        keep-alive connection idle for ``timeout`` is closed, and a request arriving in the
        last ``race`` seconds before that crosses the close and is lost with a reset."""
        outer = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            wbufsize = 1 << 16  # headers and body leave in one segment; flushed after each reply
            server_version = "vigilsim"
            sys_version = ""

            def log_message(self, *args):  # the region keeps its own request log
                pass

            def setup(self):
                self.idle = outer.idle_timeout() if outer.idle_timeout else None
                # Read by StreamRequestHandler.setup: waiting longer for the next request
                # ends the connection (a clean close a client notices before reusing it).
                self.timeout = self.idle[0] if self.idle else None
                super().setup()
                self.replies = 0
                self.idle_since = time.monotonic()

            def _idle_dropped(self, request: Request) -> bool:
                """Reset a reused connection whose request crossed the server's idle close.

                A server (eventlet's ``client_socket_timeout``, a proxy's keep-alive timeout)
                closes a connection left idle; a client that sends on it just before the close
                reaches it loses the request with a reset, Nova never having seen it. The race
                window is widened to ``race`` seconds so that the loss can be made certain.
                """
                if self.idle is None or not self.replies:
                    return False
                timeout, race = self.idle
                if time.monotonic() - self.idle_since <= timeout - race:
                    return False
                if outer.on_idle_drop:
                    outer.on_idle_drop(request)
                self.close_connection = True
                try:
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()  # linger 0: the client reads a reset
                except OSError:
                    pass
                return True

            def date_time_string(self, timestamp=None):
                return (
                    outer.date_header()
                    if outer.date_header
                    else super().date_time_string(timestamp)
                )

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                if self._idle_dropped(request):
                    return
                try:
                    response = dispatch(request)
                except DropConnection:
                    self.close_connection = True
                    try:
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                self._send(response)
                self.replies += 1
                self.idle_since = time.monotonic()

            def _send(self, response: Response):
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if response.stream is not None:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    try:
                        for chunk in response.stream:
                            if chunk:
                                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                            self.wfile.flush()
                        self.wfile.write(b"0\r\n\r\n")
                        self.wfile.flush()
                    except (BrokenPipeError, ConnectionResetError):
                        self.close_connection = True
                    finally:
                        close = getattr(response.stream, "close", None)
                        if close:
                            close()
                    return
                data = response.body or b""
                if self.command == "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    return
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

            def handle(self):
                """A client that closed a watch stream leaves nothing to flush to."""
                try:
                    super().handle()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def finish(self):
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    super().finish()  # the client left first

        self.date_header = date_header
        self.idle_timeout = idle_timeout
        self.on_idle_drop = on_idle_drop
        self._server = _Server(("127.0.0.1", port), RequestHandler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="vigilsim-http", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self._thread.join(timeout=5)
