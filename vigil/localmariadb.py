"""A throwaway MariaDB on loopback, from Debian's ``mariadb-server``, for Masakari imports.

Masakari usually runs on MySQL/MariaDB, so the importer is tested (and benchmarked) against a
real server: its own data folder, its own port, its own socket, gone when stopped. Grant
checks are off, since only this process's tests and tools talk to it on 127.0.0.1.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from vigil.localdb import free_port, wait_until_serving

INSTALL_HINT = (
    "MariaDB is not installed: run `bash scripts/mariadb-install` (as root: "
    "apt-get update && apt-get install -y mariadb-server)"
)


class MariaDBError(RuntimeError):
    """The local MariaDB could not be started; the message says why and what to do."""


def _binary(*names: str) -> str:
    for name in names:
        for folder in (None, "/usr/sbin", "/usr/bin"):
            found = shutil.which(name, path=folder)
            if found:
                return found
    raise MariaDBError(INSTALL_HINT)


@dataclass
class LocalMariaDB:
    """A running MariaDB on 127.0.0.1; ``url_for`` names a PyMySQL URL for one database."""

    data_dir: Path
    port: int
    process: subprocess.Popen | None = None
    _owned_dir: bool = field(default=False, repr=False)

    def url_for(self, database: str) -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{database}?charset=utf8mb4"

    def create_database(self, name: str, *, fresh: bool = False) -> str:
        """Create ``name`` (dropped first when ``fresh``) and return its URL."""
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", port=self.port, user="root")
        try:
            with conn.cursor() as cur:
                if fresh:
                    cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                cur.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
            conn.commit()
        finally:
            conn.close()
        return self.url_for(name)

    def load(self, database: str, sql_file: Path) -> None:
        """Run a dump (``mariadb-dump`` output) into ``database`` with the mariadb client."""
        client = _binary("mariadb", "mysql")
        with open(sql_file, "rb") as source:
            result = subprocess.run(
                [client, "-h", "127.0.0.1", "-P", str(self.port), "-u", "root", database],
                stdin=source,
                capture_output=True,
            )
        if result.returncode != 0:
            raise MariaDBError(f"loading {sql_file} failed: {result.stderr.decode().strip()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
        if self._owned_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def start(data_dir: Path | None = None, *, timeout: float = 60.0) -> LocalMariaDB:
    """Initialise ``data_dir`` (a fresh temporary one when None) and start MariaDB on it."""
    import pymysql  # noqa: F401 - fail here, not after a timeout, when the driver is missing

    server = _binary("mariadbd", "mysqld")
    install_db = _binary("mariadb-install-db", "mysql_install_db")
    owned = data_dir is None
    folder = Path(data_dir or tempfile.mkdtemp(prefix="vigil-mariadb-")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    run_as = ["--user=root"] if os.geteuid() == 0 else []
    if not (folder / "mysql").exists():
        result = subprocess.run(
            [
                install_db,
                "--no-defaults",
                f"--datadir={folder}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *run_as,
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise MariaDBError(f"mariadb-install-db failed in {folder}: {result.stderr.strip()}")
    port = free_port()
    log_path = folder / "server.log"
    with open(log_path, "ab") as log:  # the server keeps its own copy of the descriptor
        process = subprocess.Popen(
            [
                server,
                "--no-defaults",
                f"--datadir={folder}",
                f"--port={port}",
                "--bind-address=127.0.0.1",
                f"--socket={folder / 'mysqld.sock'}",
                f"--pid-file={folder / 'mysqld.pid'}",
                "--skip-grant-tables",
                "--skip-name-resolve",
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-buffer-pool-size=64M",
                "--innodb-flush-method=nosync",
                "--skip-innodb-doublewrite",
                *run_as,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    db = LocalMariaDB(data_dir=folder, port=port, process=process, _owned_dir=owned)
    atexit.register(db.stop)
    wait_until_serving(
        "MariaDB",
        process,
        port,
        log_path,
        ready=lambda: db.create_database("mysql"),
        timeout=timeout,
        stop=db.stop,
        error=MariaDBError,
    )
    return db
