"""Database engine and sessions (SQLAlchemy 2 on pg8000)."""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pg8000.legacy
from pg8000.converters import timestamp_in
from sqlalchemy import CursorResult, Engine, Result, create_engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from shared.settings import get_settings

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_factories: dict[Engine, sessionmaker[Session]] = {}


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
            engine = create_engine(url, pool_size=10, max_overflow=40, pool_recycle=1800)
            _install_pool_hooks(engine)
            _cache_statement_conversion()
            _engines[url] = engine
        return engine


# A pooled connection idle this long is pinged before use; a busy pool is never pinged.
IDLE_PING_SECONDS = 5.0
# PostgreSQL's type OID of ``timestamp without time zone``, the type of every Vigil timestamp.
_TIMESTAMP_OID = 1114


def _timestamp(data: str) -> Any:
    """pg8000's parser uses strptime (a fifth of a 1,000-row list); fromisoformat reads
    PostgreSQL's ISO output at C speed, and pg8000's parser keeps the rare forms (BC dates,
    infinity, years past 9999)."""
    try:
        return dt.datetime.fromisoformat(data)
    except ValueError:
        return timestamp_in(data)


def _cache_statement_conversion() -> None:
    """pg8000 rescans every statement character by character to turn SQLAlchemy's ``%s``
    placeholders into ``$n`` (a sixth of a notification POST's CPU). For positional styles the
    result depends on the statement text alone, and SQLAlchemy sends the same few texts over
    and over, so each is converted once."""
    convert = pg8000.legacy.convert_paramstyle
    if getattr(convert, "cached", False):
        return

    @functools.lru_cache(maxsize=1024)
    def converted(style: str, query: str) -> str:
        return convert(style, query, ())[0]

    def cached(style: str, query: str, args: Any) -> tuple[str, Any]:
        if style in ("format", "numeric", "qmark"):
            return converted(style, query), args
        return convert(style, query, args)

    cached.cached = True  # type: ignore[attr-defined]
    pg8000.legacy.convert_paramstyle = cached


def _install_pool_hooks(engine: Engine) -> None:
    """Stale connections without a ``SELECT 1`` per checkout: only a connection that sat idle
    is pinged (a database restart or an idle-connection drop happens while it sits), and
    ``pool_recycle`` retires old ones; a connection that dies in use invalidates the pool."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.register_in_adapter(_TIMESTAMP_OID, _timestamp)

    @event.listens_for(engine, "handle_error")
    def _handle_error(context: Any) -> None:
        # A session PostgreSQL ended (shutdown, restart, terminated backend) is gone even when
        # the driver reports it as an ordinary error: drop it and the pool's older connections.
        detail = context.original_exception.args[0] if context.original_exception.args else None
        if isinstance(detail, dict) and str(detail.get("C", "")).startswith(("08", "57P")):
            context.is_disconnect = True

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
            # The ping opened a transaction; end it, so the caller's first statement starts a
            # fresh one (SET TRANSACTION, and now() read at the caller's moment, need that).
            dbapi_connection.rollback()
        except Exception as error:
            raise exc.DisconnectionError(str(error)) from error
        finally:
            cursor.close()


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _factories.clear()


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    """One sessionmaker per engine: making one defines a Session subclass, whose event set-up
    cost about 4 % of a notification POST when it was made per transaction."""
    engine = get_engine(url)
    factory = _factories.get(engine)
    if factory is None:
        with _lock:
            factory = _factories.setdefault(engine, sessionmaker(engine, expire_on_commit=False))
    return factory


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


def sqlstate(error: exc.DBAPIError) -> str | None:
    """The SQLSTATE PostgreSQL sent with the error (pg8000 keeps its fields in a dict)."""
    detail = error.orig.args[0] if error.orig is not None and error.orig.args else None
    if isinstance(detail, dict):
        code = detail.get("C")
        return str(code) if code is not None else None
    return None


# SQLSTATE classes meaning "the database cannot serve you now": connection exceptions (08),
# insufficient resources such as too many connections (53), operator intervention such as
# starting up, shutting down or a cancelled statement (57).
_UNAVAILABLE_CLASSES = ("08", "53", "57")


def is_unavailable(error: BaseException) -> bool:
    """True for a database that is down, restarting, unreachable or saturated: a retryable
    503 for callers, never their fault and never a bug."""
    # pg8000 lets a reset during its connection handshake out as a bare ConnectionError.
    if isinstance(error, (exc.TimeoutError, exc.DisconnectionError, ConnectionError)):
        return True
    if not isinstance(error, exc.DBAPIError):
        return False
    if error.connection_invalidated or isinstance(
        error, (exc.OperationalError, exc.InterfaceError)
    ):
        return True
    code = sqlstate(error)
    return code is not None and code.startswith(_UNAVAILABLE_CLASSES)
