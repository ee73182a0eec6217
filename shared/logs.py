"""One log format for the four functions: timestamps, context fields, text or JSON lines.

Each ``functions/*/main.py`` calls ``setup(<function>)`` once. The request id, notification
uuid, host and step live in context variables, bound where the work starts (``bound``); every
line written while they are bound carries them, so one ``grep`` of a notification uuid or a
host name follows a recovery from the api through recover. ``VIGIL_LOG_FORMAT=json`` writes
one JSON object per line for a log collector; ``text`` is for people at a terminal.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from shared.settings import get_settings

FIELDS = ("request_id", "notification", "host", "step")
_context: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"vigil_log_{name}", default=None) for name in FIELDS
}
_function = "vigil"
_HANDLER_NAME = "vigil"

T = TypeVar("T")

access_log = logging.getLogger("vigil.access")


def current() -> dict[str, str]:
    """The context fields bound right now (unset ones left out)."""
    found = {}
    for name, var in _context.items():
        value = var.get()
        if value:
            found[name] = value
    return found


@contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """Bind context fields for the block (``None`` values leave a field as it was)."""
    tokens = []
    for name, value in fields.items():
        if value:
            tokens.append((_context[name], _context[name].set(str(value))))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def carry(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` run with the caller's context fields, e.g. in a worker thread of a pool."""
    captured = contextvars.copy_context()

    def run(*args: Any, **kwargs: Any) -> T:
        return captured.copy().run(fn, *args, **kwargs)

    return run


def request_id() -> str:
    """The bound request id, or a fresh one in Masakari's ``req-<uuid>`` form."""
    return _context["request_id"].get() or f"req-{uuid.uuid4()}"


def _timestamp(record: logging.LogRecord) -> str:
    moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """``<time> <LEVEL> <function> <logger> [field=value ...] message``."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in current().items())
        line = f"{_timestamp(record)} {record.levelname} {_function} {record.name}"
        if fields:
            line += f" [{fields}]"
        line += f" {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line; context fields and ``extra=`` access fields as keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "function": _function,
            "logger": record.name,
            "message": record.getMessage(),
            **current(),
        }
        access = getattr(record, "access", None)
        if access:
            entry.update(access)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup(function: str) -> None:
    """Route every logger of this process through one handler in the configured format."""
    global _function
    _function = function
    settings = get_settings().logging
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if settings.format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(settings.level)


def _route(request) -> str:
    """A bounded label for the request: the URL map's endpoint name, never the raw path."""
    path = request.path
    if path == "/v1" or path.startswith("/v1/"):
        from werkzeug.exceptions import HTTPException

        from shared.api.routes import url_map

        try:
            endpoint, _ = url_map.bind("localhost", path_info=path).match(method=request.method)
        except HTTPException:
            return "unmatched"
        return str(endpoint)
    if path in ("/", "/healthcheck", "/metrics", "/openapi.json", "/dead-letters"):
        return path
    return "other"


def _notification_of(request, response) -> str | None:
    """The notification a request concerns: from its path, or the one it just created."""
    parts = request.path.split("/")
    if "notifications" in parts:
        index = parts.index("notifications")
        if index + 1 < len(parts) and parts[index + 1]:
            return parts[index + 1]
        if request.method == "POST" and response.status_code < 300 and response.is_json:
            reply = response.get_json(silent=True) or {}
            return (reply.get("notification") or {}).get("notification_uuid")
    return None


def served(request, handler: Callable[[Any], Any]) -> Any:
    """Answer one API request under a fresh request id; count it and write its access line."""
    from shared.metrics import observe_request

    started = time.perf_counter()
    with bound(request_id=f"req-{uuid.uuid4()}"):
        response = handler(request)
        seconds = time.perf_counter() - started
        route = _route(request)
        observe_request(request.method, route, response.status_code, seconds)
        with bound(notification=_notification_of(request, response)):
            access_log.info(
                '%s "%s %s" %s %.1f ms',
                request.remote_addr or "-",
                request.method,
                request.full_path.rstrip("?"),
                response.status_code,
                seconds * 1000,
                extra={
                    "access": {
                        "method": request.method,
                        "path": request.path,
                        "route": route,
                        "status": response.status_code,
                        "duration_ms": round(seconds * 1000, 1),
                        "remote": request.remote_addr,
                    }
                },
            )
    return response
