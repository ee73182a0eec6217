"""The request pipeline of the api function, in Masakari's order (api.md §1-5).

size limit (413) → discovery and non-/v1 paths → token (401) → route (plain 404) →
microversion (400/406) → media type (415) → JSON (400) → project id in URL (400) →
handler: body schema (400) → policy (403) → lookups (404) → conflicts (409).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Request, Response
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import MethodNotAllowed, NotFound

from shared import errors, logs, metrics
from shared.api import auth, body, discovery, faults, microversions
from shared.api.handlers import Reply
from shared.api.routes import ROUTES, Route, url_map

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-openstack-request-id"


@dataclass
class ApiRequest:
    """What a handler sees: caller, effective version, query, parsed body, path arguments."""

    context: auth.Context
    version: tuple[int, int]
    args: Any
    body: Any
    params: dict[str, str]
    base_url: str
    method: str


def _base_url(request: Request) -> str:
    """Where clients reached us; behind Knative's ingress the scheme is in X-Forwarded-Proto."""
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    return f"{scheme}://{request.host}{request.script_root}"


def startup() -> None:
    """Once per process: say loudly when tokens are not validated."""
    auth.warn_if_noauth()


def handle(request: Request) -> Response:
    """Entry point of the ``api`` HTTP function."""
    auth.warn_if_noauth()
    path = request.path
    if path == "/healthcheck":
        return Response("OK", status=200, content_type="text/plain")
    if not (path == "/v1" or path.startswith("/v1/")):
        return _outside_v1(request, path)
    request_id = logs.request_id()
    response = _v1(request, request_id)
    response.headers[REQUEST_ID_HEADER] = request_id
    return response


def _outside_v1(request: Request, path: str) -> Response:
    base = _base_url(request)
    if path == "/":
        return faults.json_reply(200, discovery.root(base))
    if path == "/openapi.json":
        from shared.api.openapi import document

        return faults.json_reply(200, document(base))
    if path == "/metrics" and request.method == "GET":
        payload, content_type = metrics.exposition()
        return Response(payload, status=200, content_type=content_type)
    return faults.json_reply(300, discovery.choices(base, path))


def _run(route: Route, api_request: ApiRequest) -> Reply:
    """A read that met a connection the database had dropped (a restart, an idle drop) runs
    once more on a fresh one; writes answer 503 and leave retrying to the caller."""
    try:
        return route.handler(api_request)
    except DBAPIError as exc:
        if api_request.method != "GET" or not exc.connection_invalidated:
            raise
        log.info("read retried on a fresh database connection: %s", exc.orig)
        return route.handler(api_request)


def _match(path: str, method: str) -> tuple[str, dict[str, str]] | None:
    """The route for ``path``, as Masakari's router finds it: a format suffix (``.json``) on
    the last segment is taken off first; a trailing slash matches nothing but ``/v1/``."""
    adapter = url_map.bind("localhost", url_scheme="http")
    candidates = [path]
    head, dot, suffix = path.rpartition(".")
    if dot and suffix and "/" not in suffix and not head.endswith("/"):
        candidates.insert(0, head)
    for candidate in candidates:
        try:
            endpoint, params = adapter.match(candidate, method=method)
        except (NotFound, MethodNotAllowed):
            continue
        if candidate.endswith("/") and endpoint != "versions":
            return None
        return endpoint, dict(params)
    return None


def _v1(request: Request, request_id: str) -> Response:
    version_headers: dict[str, str] = {}
    try:
        raw = body.read_limited(request)
        context = auth.authenticate(request.headers)
        context.request_id = request_id
        matched = _match(request.path, request.method)
        if matched is None:
            return faults.plain_not_found()
        endpoint, params = matched
        try:
            version = microversions.requested(request.headers.get(microversions.HEADER))
        except errors.NotAcceptable as exc:
            return faults.fault(exc, {"Vary": microversions.HEADER})
        route = ROUTES[endpoint]
        if version < route.min_version:
            return faults.plain_not_found()
        version_headers = microversions.response_headers(version)
        body.check_media_type(request)
        parsed = body.parse_json(raw) if route.reads_body else None
        params = dict(params)
        project_id = params.pop("project_id", None)
        if project_id is not None and project_id != context.project_id:
            raise errors.BadRequest(
                f"Malformed request URL: URL's project_id '{project_id}' doesn't match "
                f"Context's project_id '{context.project_id}'"
            )
        api_request = ApiRequest(
            context, version, request.args, parsed, params, _base_url(request), request.method
        )
        reply = _run(route, api_request)
        return faults.json_reply(reply.status, reply.body, version_headers)
    except errors.VigilError as exc:
        return faults.fault(exc, version_headers)
    except faults.DATABASE_ERRORS as exc:
        return faults.fault(faults.database_trouble(exc, request_id), version_headers)
    except Exception as exc:
        log.exception("unexpected error (%s)", request_id)
        return faults.fault(faults.unexpected(exc, request_id), version_headers)
