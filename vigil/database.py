"""Which database a local command uses, said out loud: ``--database-url``, else
``VIGIL_DATABASE_URL``, else the database of a running ``vigil dev``, else an embedded
PostgreSQL in ``$VIGIL_HOME/pgdata`` (default ``~/.vigil``)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from shared.redaction import database_reason, hide_password
from shared.settings import get_settings


class CommandError(RuntimeError):
    """What a ``vigil`` command prints as its one line on stderr before exiting 2."""


def vigil_home() -> Path:
    return Path(os.environ.get("VIGIL_HOME") or Path.home() / ".vigil")


def dev_state_file() -> Path:
    """Where a running ``vigil dev`` says which database it serves."""
    return vigil_home() / "dev.json"


def write_dev_state(database_url: str, api_url: str) -> Path:
    path = dev_state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(
        json.dumps({"pid": os.getpid(), "database_url": database_url, "api_url": api_url})
    )
    return path


def clear_dev_state() -> None:
    path = dev_state_file()
    with contextlib.suppress(OSError, ValueError):  # gone or unreadable: nothing to clear
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def running_dev_database() -> tuple[int, str] | None:
    """(pid, database URL) of a ``vigil dev`` that is still running, if any."""
    try:
        state = json.loads(dev_state_file().read_text())
        pid, url = int(state["pid"]), str(state["database_url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return pid, url


def _unreachable(url: str, source: str, exc: DBAPIError) -> CommandError:
    return CommandError(
        f"cannot use the database {hide_password(url)} (from {source}): {database_reason(exc)}"
    )


@contextmanager
def resolve_url(explicit: str | None = None, data_dir: Path | None = None) -> Iterator[str]:
    """Yield a database URL and say on stderr which one unless it was given; with none
    configured and no ``vigil dev`` running, run the embedded one for the block. A database
    that cannot be reached becomes a ``CommandError`` naming it (password hidden)."""
    if explicit:
        url, source = explicit, "--database-url"
    elif get_settings().database_url:
        url, source = str(get_settings().database_url), "VIGIL_DATABASE_URL"
    else:
        url, source = "", ""
        dev = running_dev_database()
        if dev is not None:
            url, source = dev[1], f"the running `vigil dev` (pid {dev[0]})"
            print(f"using the database of {source}: {hide_password(url)}", file=sys.stderr)
    if url:
        try:
            yield url
        except DBAPIError as exc:
            raise _unreachable(url, source, exc) from exc
        return
    from vigil import localdb

    folder = data_dir or vigil_home() / "pgdata"
    server = localdb.start(folder)
    print(
        f"no VIGIL_DATABASE_URL and no `vigil dev` running: embedded PostgreSQL with data in "
        f"{folder}, listening on 127.0.0.1:{server.port}",
        file=sys.stderr,
    )
    try:
        yield server.url
    finally:
        server.stop()
