"""Database engine and sessions (SQLAlchemy 2 on pg8000)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Result, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from shared.settings import get_settings

_lock = threading.Lock()
_engines: dict[str, Engine] = {}


class DatabaseNotConfigured(RuntimeError):
    """No VIGIL_DATABASE_URL: deployed functions need one; local commands start their own."""


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the pg8000 driver for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+pg8000")
    return parsed.render_as_string(hide_password=False)


def get_engine(url: str | None = None) -> Engine:
    """One pooled engine per URL per process."""
    url = url or get_settings().database_url
    if not url:
        raise DatabaseNotConfigured(
            "VIGIL_DATABASE_URL is not set (e.g. postgresql://user:pass@host/vigil)"
        )
    url = normalise_url(url)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = create_engine(
                url, pool_size=10, max_overflow=40, pool_pre_ping=True, pool_recycle=1800
            )
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A transaction: committed when the block ends, rolled back if it raises."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def utcnow() -> dt.datetime:
    """Naive UTC, the form every Vigil timestamp is stored in (api.md §5.3)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def db_now(session: Session) -> dt.datetime:
    """The database's clock, naive UTC: leases compare against one clock, not each pod's."""
    return session.execute(text("SELECT (now() AT TIME ZONE 'utc')")).scalar_one()


def rows_changed(result: Result[Any]) -> int:
    """Rows an UPDATE/DELETE run through ``Session.execute`` touched (its result is a cursor
    result at run time; the ORM's signature only promises ``Result``)."""
    return cast("CursorResult[Any]", result).rowcount
