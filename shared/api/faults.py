"""Replies: JSON bodies, Masakari fault bodies and the plain-text 404 of unknown routes."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

from shared import errors

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
