"""Catalogue events around an API write (events.md §3.2): start before, error on failure.

``end`` is emitted by the caller once the transaction has committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shared import events

SOURCE = "api"


@contextmanager
def announced(resource: str, action: str, subject: str, data: dict[str, Any]) -> Iterator[None]:
    events.emit(f"{resource}.{action}.start", SOURCE, subject, data)
    try:
        yield
    except Exception as exc:
        events.emit(f"{resource}.{action}.error", SOURCE, subject, data, fault=exc)
        raise


def ended(resource: str, action: str, subject: str, data: dict[str, Any]) -> None:
    events.emit(f"{resource}.{action}.end", SOURCE, subject, data)
