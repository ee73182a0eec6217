"""Replies: JSON bodies, Masakari fault bodies and the plain-text 404 of unknown routes."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Response
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as SATimeoutError

from shared import db, errors

log = logging.getLogger(__name__)

FAULT_TYPE = "application/json; charset=UTF-8"


def json_reply(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Response:
    data = "" if body is None else json.dumps(body)
    return Response(data, status=status, headers=headers or {}, content_type="application/json")


def fault(exc: errors.VigilError, headers: dict[str, str] | None = None) -> Response:
    headers = dict(headers or {})
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return Response(
        json.dumps(exc.body()), status=exc.code, headers=headers, content_type=FAULT_TYPE
    )


def plain_not_found() -> Response:
    """What Masakari's router answers for a path or method it does not map."""
    return Response(
        "404 Not Found\n\nThe resource could not be found.\n\n",
        status=404,
        content_type="text/plain; charset=UTF-8",
    )


def unexpected(exc: BaseException, request_id: str) -> errors.VigilError:
    """500 ``masakariFault``: say what failed and how to find it in the log."""
    return errors.VigilError(
        "Unexpected API Error. Please report it to the operator of this Vigil deployment with "
        f"request id {request_id}; the api log has the details.\n{type(exc)}"
    )


# ConnectionError: pg8000 lets a reset during its connection handshake out unwrapped.
DATABASE_ERRORS = (DBAPIError, SATimeoutError, DisconnectionError, ConnectionError)


def database_trouble(exc: Exception, request_id: str) -> errors.VigilError:
    """A value PostgreSQL refuses is the caller's 400; a database that is down, restarting,
    unreachable or saturated is a 503 with Retry-After; anything else is an unexpected 500."""
    if isinstance(exc, DBAPIError):
        refused = _refused_value(exc)
        if refused:
            return errors.InvalidInput(reason=refused)
    if db.is_unavailable(exc):
        log.error("database unavailable (%s): %s", request_id, exc)
        return errors.ServiceUnavailable(service="The database")
    log.exception("unexpected database error (%s)", request_id)
    return unexpected(exc, request_id)


def _refused_value(exc: DBAPIError) -> str | None:
    """PostgreSQL's data exceptions (SQLSTATE class 22, e.g. a NUL character) are bad input."""
    code = db.sqlstate(exc)
    if code is not None and code.startswith("22"):
        detail = exc.orig.args[0] if exc.orig is not None and exc.orig.args else {}
        return str(detail.get("M", "value refused by the database"))
    return None
