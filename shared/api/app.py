"""The request pipeline of the api function, in Masakari's order (api.md §1-5).

size limit (413) → discovery and non-/v1 paths → token (401) → route (plain 404) →
microversion (400/406) → media type (415) → JSON (400) → project id in URL (400) →
handler: body schema (400) → policy (403) → lookups (404) → conflicts (409).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Request, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from werkzeug.exceptions import MethodNotAllowed, NotFound

from shared import deadletters, errors
from shared.api import auth, body, discovery, faults, microversions
from shared.api.routes import ROUTES, url_map

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
    request_id = f"req-{uuid.uuid4()}"
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
    if path == "/dead-letters" and request.method == "POST":
        return _dead_letter(request)
    return faults.json_reply(300, discovery.choices(base, path))


def _dead_letter(request: Request) -> Response:
    """Knative's dead-letter sink: events that exhausted their deliveries (no token)."""
    try:
        raw = body.read_limited(request)
    except errors.VigilError as exc:
        return faults.fault(exc)
    try:
        status, reply = deadletters.receive(dict(request.headers), raw)
    except (DBAPIError, SATimeoutError) as exc:
        return faults.fault(_database_trouble(exc, "dead letter"))
    return faults.json_reply(status, reply)


def _database_trouble(exc: DBAPIError | SATimeoutError, request_id: str) -> errors.VigilError:
    """A value PostgreSQL refuses is the caller's 400; an unreachable or saturated database is
    a 503 the caller can retry; anything else is an unexpected 500."""
    if isinstance(exc, DBAPIError):
        refused = _refused_value(exc)
        if refused:
            return errors.InvalidInput(reason=refused)
    if isinstance(exc, (OperationalError, SATimeoutError)) or getattr(
        exc, "connection_invalidated", False
    ):
        log.error("database unavailable (%s): %s", request_id, exc)
        return errors.ServiceUnavailable(service="The database")
    log.exception("unexpected database error (%s)", request_id)
    return faults.unexpected(exc, request_id)


def _refused_value(exc: DBAPIError) -> str | None:
    """PostgreSQL's data exceptions (SQLSTATE class 22, e.g. a NUL character) are bad input."""
    detail = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    if isinstance(detail, dict) and str(detail.get("C", "")).startswith("22"):
        return str(detail.get("M", "value refused by the database"))
    return None


def _v1(request: Request, request_id: str) -> Response:
    version_headers: dict[str, str] = {}
    try:
        raw = body.read_limited(request)
        context = auth.authenticate(request.headers)
        context.request_id = request_id
        adapter = url_map.bind("localhost", path_info=request.path, url_scheme="http")
        try:
            endpoint, params = adapter.match(method=request.method)
        except (NotFound, MethodNotAllowed):
            return faults.plain_not_found()
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
        reply = route.handler(api_request)
        return faults.json_reply(reply.status, reply.body, version_headers)
    except errors.VigilError as exc:
        return faults.fault(exc, version_headers)
    except (DBAPIError, SATimeoutError) as exc:
        return faults.fault(_database_trouble(exc, request_id), version_headers)
    except Exception as exc:
        log.exception("unexpected error (%s)", request_id)
        return faults.fault(faults.unexpected(exc, request_id), version_headers)
