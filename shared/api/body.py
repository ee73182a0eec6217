"""Request bodies: size limit, media type and JSON (api.md §1, §5.1, §13.9)."""

from __future__ import annotations

import json
from typing import Any

from flask import Request

from shared import errors
from shared.settings import get_settings

JSON_TYPES = ("application/json", "application/vnd.openstack.masakari+json")


def read_limited(request: Request, limit: int | None = None) -> bytes:
    """The raw body, refusing more than ``limit`` (default ``max_request_body_size``); chunked
    bodies stop at limit + 1 byte."""
    limit = get_settings().max_request_body_size if limit is None else limit
    if request.content_length is not None and request.content_length > limit:
        raise errors.PayloadTooLarge()
    stream = request.stream
    chunks, size = [], 0
    while size <= limit:
        chunk = stream.read(min(65536, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise errors.PayloadTooLarge()
    return b"".join(chunks)


def check_media_type(request: Request) -> None:
    """A missing type or ``text/plain`` is read as JSON; any other non-JSON type is a 415."""
    if "Content-Type" not in request.headers:
        return
    media = request.mimetype
    if media and media not in JSON_TYPES and media != "text/plain":
        raise errors.UnsupportedMediaType()


def parse_json(raw: bytes) -> Any:
    """``None`` for an empty body (the schema then says ``None is not of type 'object'``)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise errors.BadRequest("Malformed request body") from None
