"""The dashboard's local web server: the page's files, and a read-only proxy to the API.

Like ``kubectl proxy``, the browser talks to localhost only; the proxy forwards ``/v1/...``
GETs to the instance-ha API with the operator's token, so no credential reaches the page.
Only GET and HEAD are forwarded and only requests naming a loopback Host are served, so
another web site open in the same browser can neither change anything through the proxy nor
reach it by DNS rebinding.
"""

from __future__ import annotations

import json
import re
import threading
from importlib import resources

from keystoneauth1 import exceptions as ks_exceptions
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from vigil.cloudauth import InstanceHA

STATIC = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
# Loopback names with an optional port: what a browser on this machine sends as Host.
LOOPBACK_HOST = re.compile(r"^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$")
FORWARDED_HEADERS = ("OpenStack-API-Version", "Accept")
RETURNED_HEADERS = ("Content-Type", "OpenStack-API-Version", "x-openstack-request-id")


def asset(name: str) -> bytes:
    return resources.files("vigil.dashboard").joinpath("static", name).read_bytes()


class DashboardApp:
    """WSGI application serving the page and proxying the API."""

    def __init__(self, api: InstanceHA) -> None:
        self.api = api

    def __call__(self, environ, start_response):
        return self.respond(Request(environ))(environ, start_response)

    def respond(self, request: Request) -> Response:
        if not LOOPBACK_HOST.match(request.host or ""):
            return Response("only served to localhost\n", status=403, content_type="text/plain")
        if request.method not in ("GET", "HEAD"):
            return Response(
                "the dashboard proxy is read-only\n", status=405, content_type="text/plain"
            )
        path = request.path
        if path in ("/", "/index.html"):
            return Response(asset("index.html"), content_type="text/html; charset=utf-8")
        if path.startswith("/static/") and path[len("/static/") :] in STATIC:
            name = path[len("/static/") :]
            return Response(asset(name), content_type=STATIC[name])
        if path == "/v1" or path.startswith("/v1/"):
            return self.forward(request)
        return Response("not found\n", status=404, content_type="text/plain")

    def forward(self, request: Request) -> Response:
        headers = {h: request.headers[h] for h in FORWARDED_HEADERS if h in request.headers}
        try:
            reply = self.api.session.get(
                self.api.root + request.path,
                params=request.args.to_dict(flat=False),
                headers=headers,
                authenticated=True,
                raise_exc=False,
                timeout=15,
            )
        except ks_exceptions.ClientException as exc:  # refused, timed out, re-auth failed
            return _bad_gateway(f"no answer from {self.api.root}: {exc}")
        response = Response(reply.content, status=reply.status_code)
        for name in RETURNED_HEADERS:
            if name in reply.headers:
                response.headers[name] = reply.headers[name]
        response.headers["Cache-Control"] = "no-store"
        return response


def _bad_gateway(message: str) -> Response:
    body = {"badGateway": {"code": 502, "message": message.splitlines()[0]}}
    return Response(json.dumps(body), status=502, content_type="application/json")


class _QuietHandler(WSGIRequestHandler):
    """The page polls several routes every few seconds: no access log line for each."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class DashboardServer:
    """The app on a loopback port, in a background thread."""

    def __init__(self, api: InstanceHA, port: int = 0, host: str = "127.0.0.1") -> None:
        self.server = make_server(
            host, port, DashboardApp(api), threaded=True, request_handler=_QuietHandler
        )
        self.url = f"http://{host}:{self.server.server_port}/"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )

    def start(self) -> DashboardServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
