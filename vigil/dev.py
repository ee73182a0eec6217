"""``vigil dev``: all of Vigil on this machine, wired as infra/knative/ wires it in a cluster.

An embedded PostgreSQL (migrated), the four functions as functions-framework processes started
with the image's own CMD, the local broker (their ``K_SINK``) and the PingSource scheduler from
``vigil.wiring``; against the simulated region unless a clouds.yaml is given (a kubeconfig is optional: without
one the monitor watches hosts through Nova and their BMCs).
Also ``vigil dead-letters``: the events Knative (or the local broker) gave up delivering.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
import yaml

from shared.redaction import hide_password, hide_passwords
from vigil.localdb import free_port

if TYPE_CHECKING:
    from vigil.localdb import LocalDatabase
    from vigilsim import Region
from vigil.wiring import (
    MANIFESTS,
    ROOT,
    FunctionSpec,
    Manifests,
    Router,
    Scheduler,
    WiringError,
    build_ticks,
    function_specs,
    image_command,
    load_manifests,
)

MASAKARI_PORT = 15868  # Masakari API's registered port; openstack CLI users expect it
READY_TIMEOUT = 90.0


class DevError(RuntimeError):
    """Something the user can fix; printed as one line, exit status 2."""


@dataclass
class DevOptions:
    clouds_yaml: str | None = None
    cloud: str = "vigil"
    kubeconfig: str | None = None
    api_port: int = 0
    broker_port: int = 0
    database_url: str | None = None
    data_dir: Path | None = None  # None with the sim: a throwaway database
    use_env_database: bool = True  # False: never VIGIL_DATABASE_URL (the demo writes its own data)
    hosts: int | list[str] = 8
    region_options: dict[str, Any] = field(default_factory=dict)
    tick_overrides: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # extra settings for every function
    log_dir: Path | None = None


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _claim_port(port: int, flag: str) -> int:
    if not port:
        return free_port()
    if not _port_free(port):
        raise DevError(
            f"port {port} is already in use (another `vigil dev`?); choose another with {flag}"
        )
    return port


def check_clouds_yaml(path: str, cloud: str) -> None:
    """The file exists, is a clouds.yaml, and has the entry Vigil will act as."""
    file = Path(path)
    if not file.is_file():
        raise DevError(f"clouds.yaml not found: {path}")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise DevError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    clouds = (data or {}).get("clouds") if isinstance(data, dict) else None
    if not isinstance(clouds, dict):
        raise DevError(f"{path} is not a clouds.yaml: it has no 'clouds:' mapping")
    if cloud not in clouds:
        raise DevError(
            f"{path} has no cloud named {cloud!r} (it has: {', '.join(clouds) or 'none'}); use --cloud"
        )
    try:
        import openstack
        from openstack import config as os_config

        region = os_config.OpenStackConfig(config_files=[path], load_envvars=False).get_one(
            cloud=cloud, api_timeout=10
        )
        openstack.connection.Connection(config=region).authorize()
    except Exception as exc:  # openstacksdk raises many kinds; all mean "not usable"
        raise DevError(
            f"cloud {cloud!r} from {path} cannot authenticate: {str(exc).splitlines()[0]}"
        ) from exc


def check_kubeconfig(path: str) -> None:
    """The file exists, loads, and its cluster answers."""
    if not Path(path).is_file():
        raise DevError(f"kubeconfig not found: {path}")
    try:
        from kubernetes import client, config

        api_client = config.new_client_from_config(config_file=path)
        client.VersionApi(api_client).get_code(_request_timeout=10)
    except Exception as exc:
        raise DevError(f"kubeconfig {path} is not usable: {str(exc).splitlines()[0]}") from exc


def shipped_postgres_major() -> str | None:
    """The major version of the embedded PostgreSQL binaries (e.g. "18")."""
    from vigil import localdb

    reply = subprocess.run(
        [str(localdb._bin_dir() / "postgres"), "--version"], capture_output=True, text=True
    )
    return (
        reply.stdout.split()[-1].split(".")[0] if reply.returncode == 0 and reply.stdout else None
    )


def check_data_dir(folder: Path) -> None:
    """A data folder made by another PostgreSQL major version cannot be started: say so."""
    version_file = Path(folder) / "PG_VERSION"
    if not version_file.is_file():
        return
    found = version_file.read_text().strip()
    shipped = shipped_postgres_major()
    if shipped and found != shipped:
        raise DevError(
            f"the embedded database in {folder} was made by PostgreSQL {found}, this Vigil ships {shipped}; "
            "move that folder away or choose another --data-dir"
        )


@dataclass
class FunctionProcess:
    spec: FunctionSpec
    url: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class LocalVigil:
    """Starts everything in order and stops it in reverse; a context manager."""

    def __init__(self, options: DevOptions, manifests: Manifests | None = None) -> None:
        self.options = options
        self.manifests = manifests or load_manifests(MANIFESTS)
        self.region: Region | None = None
        self.database: LocalDatabase | None = None
        self.database_url: str | None = None
        self.router: Router | None = None
        self.scheduler: Scheduler | None = None
        self.functions: dict[str, FunctionProcess] = {}
        self.clouds_yaml: str | None = None
        self.cloud: str = options.cloud
        self.kubeconfig: str | None = None
        self.dashboard: Any = None
        self._temp: Path | None = None

    @property
    def workdir(self) -> Path:
        """The run's scratch folder, which exists while the context is entered."""
        if self._temp is None:
            raise RuntimeError("LocalVigil is used outside its with-block")
        return self._temp

    @property
    def migrated_url(self) -> str:
        """The database every function uses, once it is started and migrated."""
        if self.database_url is None:
            raise RuntimeError("the database is not started yet")
        return self.database_url

    @property
    def simulated(self) -> Region:
        """The simulated region this run started (there is none against a real cloud)."""
        if self.region is None:
            raise RuntimeError("this run has no simulated region")
        return self.region

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> LocalVigil:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        return self.functions["api"].url

    def start(self) -> None:
        options = self.options
        self._check_cloud()
        api_port = _claim_port(options.api_port, "--api-port")
        broker_port = _claim_port(options.broker_port, "--broker-port")
        self._temp = Path(tempfile.mkdtemp(prefix="vigil-dev-"))
        self._start_database()
        ports = {
            spec.service: (api_port if spec.service == "api" else free_port())
            for spec in function_specs(self.manifests)
        }
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        if self.clouds_yaml is None:
            self._start_region(urls["api"])
        try:
            router = self.router = Router(self.manifests, urls, broker_port).start()
        except OSError as exc:
            raise DevError(f"the local broker cannot listen on port {broker_port}: {exc}") from exc
        for spec in function_specs(self.manifests):
            self._start_function(spec, ports[spec.service])
        for fn in self.functions.values():
            self._wait_ready(fn)
        try:
            ticks = build_ticks(self.manifests, router.network, options.tick_overrides)
        except WiringError as exc:
            raise DevError(f"schedule override: {exc}") from exc
        self.scheduler = Scheduler(ticks).start()
        self._start_dashboard()

    def _start_dashboard(self) -> None:
        """The dashboard page on a loopback port, reading the local api as the cloud's admin."""
        from vigil.cloudauth import CloudError, connect
        from vigil.dashboard.server import DashboardServer

        try:
            api = connect(self.cloud, self.api_url, config_file=self.clouds_yaml)
        except CloudError as exc:
            raise DevError(f"dashboard: {exc}") from exc
        self.dashboard = DashboardServer(api).start()

    def stop(self) -> None:
        if self.dashboard:
            self.dashboard.stop()
            self.dashboard = None
        if self.scheduler:
            self.scheduler.stop()
            self.scheduler = None
        for fn in self.functions.values():
            if fn.process.poll() is None:
                try:
                    os.killpg(fn.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for fn in self.functions.values():
            try:
                fn.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(fn.process.pid, signal.SIGKILL)
                fn.process.wait(5)
        self.functions = {}
        if self.router:
            self.router.stop()
            self.router = None
        if self.region is not None:
            self.region.stop()
            self.region = None
        if self.database is not None:
            from shared.db import dispose_engines

            dispose_engines()
            self.database.stop()
            self.database = None
        if self._temp and not self.options.log_dir:
            shutil.rmtree(self._temp, ignore_errors=True)
        self._temp = None

    # -- steps --------------------------------------------------------------------------------

    def _check_cloud(self) -> None:
        options = self.options
        if options.kubeconfig and not options.clouds_yaml:
            raise DevError("--kubeconfig needs --clouds-yaml (the real cloud's Nova)")
        if options.clouds_yaml:
            check_clouds_yaml(options.clouds_yaml, options.cloud)
            if options.kubeconfig:
                check_kubeconfig(options.kubeconfig)
                self.kubeconfig = str(Path(options.kubeconfig).resolve())
            self.clouds_yaml = str(Path(options.clouds_yaml).resolve())
            self._check_fencing()

    def _check_fencing(self) -> None:
        """A real cloud's monitor needs a fencing choice; ask it as the monitor will, with the
        environment its process gets, before anything starts."""
        monitor = next(s for s in function_specs(self.manifests) if s.service == "monitor")
        env = {**os.environ, **self.manifests.config_env(), **monitor.env, **self.options.env}
        reply = subprocess.run(
            [sys.executable, "-m", "shared.power"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if reply.returncode != 0:
            lines = reply.stderr.strip().splitlines() or [f"exit status {reply.returncode}"]
            raise DevError(f"the monitor would refuse to start: {lines[-1]}")
        if reply.stdout.strip() == "taint" and not self.kubeconfig:
            raise DevError(
                "VIGIL_FENCING__DRIVER=taint reads the Nodes' out-of-service taint: it needs "
                "--kubeconfig; without Kubernetes choose redfish or ipmi (Nova + BMC)"
            )

    def _start_database(self) -> None:
        from shared.migrate import upgrade
        from vigil import localdb

        url = self.options.database_url
        if url is None and self.options.use_env_database:
            url = os.environ.get("VIGIL_DATABASE_URL")
        if not url:
            durable = self.options.data_dir is not None
            folder = self.options.data_dir or (self.workdir / "pgdata")
            check_data_dir(folder)
            try:
                database = localdb.start(folder, durable=durable)
            except localdb.LocalDatabaseError as exc:
                lines = [line for line in str(exc).splitlines() if line.strip()]
                detail = lines[0] if len(lines) == 1 else f"{lines[0]} … {lines[-1].strip()}"
                raise DevError(f"embedded PostgreSQL in {folder}: {detail}") from exc
            self.database = database
            url = database.url
        try:
            upgrade(url)
        except Exception as exc:
            message = str(exc).splitlines()[0]
            shown = hide_password(url)
            if "Can't locate revision" in message:
                raise DevError(
                    f"the database at {shown} was migrated by a newer Vigil ({message}); "
                    "use a fresh --data-dir or upgrade Vigil"
                ) from exc
            raise DevError(
                f"cannot migrate the database at {shown}: {hide_passwords(message)}"
            ) from exc
        self.database_url = url

    def _start_region(self, api_url: str) -> None:
        from vigilsim import Region

        options = dict(self.options.region_options)
        options.setdefault("workdir", str(self.workdir / "region"))
        region = Region.start(hosts=self.options.hosts, instance_ha_url=f"{api_url}/v1", **options)
        self.region = region
        self.clouds_yaml = region.clouds_yaml
        self.kubeconfig = region.kubeconfig
        self.cloud = (
            "vigil"  # the sim writes a "vigil" entry: its admin, as Vigil's service identity
        )

    def function_env(self, spec: FunctionSpec, port: int) -> dict[str, str]:
        """What the Knative Service gives the container, with local addresses."""
        env = dict(os.environ)
        env.update(self.manifests.config_env())
        env.update(spec.env)
        env.update(
            {
                "PORT": str(port),
                "HOST": "127.0.0.1",
                "K_SERVICE": spec.service,
                "VIGIL_DATABASE_URL": self.database_url or "",
                "VIGIL_CLOUDS_YAML": self.clouds_yaml or "",
                "VIGIL_CLOUD": self.cloud,
                "VIGIL_KUBERNETES__KUBECONFIG": self.kubeconfig or "",
                # Readable lines at a terminal, unless asked otherwise (Knative's config: JSON).
                "VIGIL_LOGGING__FORMAT": os.environ.get("VIGIL_LOGGING__FORMAT", "text"),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            }
        )
        if self.region is not None:
            env.setdefault("VIGIL_FENCING__DRIVER", "redfish")
            env.setdefault("VIGIL_FENCING__REDFISH_URL_TEMPLATE", self.region.redfish_url_template)
        sink = self.manifests.sink_bound().get(spec.service)
        if sink is not None:
            assert self.router is not None, "functions start after the local broker"
            env["K_SINK"] = self.router.network.resolve(sink)
        else:
            env.pop("K_SINK", None)
        env.update(self.options.env)
        return env

    def _start_function(self, spec: FunctionSpec, port: int) -> None:
        log_dir = self.options.log_dir or self.workdir
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{spec.service}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                image_command(),
                cwd=ROOT,
                env=self.function_env(spec, port),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.functions[spec.service] = FunctionProcess(
            spec, f"http://127.0.0.1:{port}", process, log_path
        )

    def _wait_ready(self, fn: FunctionProcess) -> None:
        """Poll the Service's readiness probe (HTTP path, else TCP) as Knative would."""
        deadline = time.monotonic() + READY_TIMEOUT
        port = int(fn.url.rsplit(":", 1)[1])
        while time.monotonic() < deadline:
            if fn.process.poll() is not None:
                raise DevError(
                    f"function {fn.spec.service} exited at start (status {fn.process.returncode}); "
                    f"its log {fn.log_path} ends with:\n{fn.log_tail()}"
                )
            try:
                if fn.spec.readiness_path:
                    if requests.get(fn.url + fn.spec.readiness_path, timeout=2).status_code == 200:
                        return
                else:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        return
            except (requests.RequestException, OSError):
                pass
            time.sleep(0.2)
        raise DevError(
            f"function {fn.spec.service} not ready after {READY_TIMEOUT:.0f}s; see {fn.log_path}"
        )

    # -- what the user sees -------------------------------------------------------------------

    def describe(self) -> str:
        if self.router is None or self.scheduler is None:
            return "Vigil is not running"
        lines = ["Vigil is running locally (wiring read from infra/knative/):"]
        for name, fn in self.functions.items():
            lines.append(f"  {name:<8} {fn.url}   log: {fn.log_path}")
        broker = next(iter(self.router.broker_urls.values()), None)
        lines.append(f"  broker   {broker}  (K_SINK)")
        for tick in self.scheduler.ticks:
            lines.append(f"  tick     {tick.name}: {tick.schedule.expression} → {tick.sink}")
        lines.append(f"  database {hide_password(self.database_url)}")
        if self.dashboard is not None:
            lines.append(f"  dashboard {self.dashboard.url}")
        if self.region is not None:
            lines += [
                f"Simulated region: Keystone {self.region.keystone_url}, Nova {self.region.nova_url}, "
                f"Kubernetes {self.region.kubernetes_url}",
                "Try it with the openstack CLI (python-masakariclient):",
                f"  export OS_CLIENT_CONFIG_FILE={self.clouds_yaml} OS_CLOUD={self.region.cloud_name}",
                "  openstack segment create segment-1 auto COMPUTE",
                "  openstack segment host create compute-000 COMPUTE SSH segment-1",
                "  openstack segment list",
                f"Break a host: curl -X POST {self.region.control_url}/power_off "
                "-H 'content-type: application/json' -d '{\"host\": \"compute-000\"}'",
            ]
        else:
            kubernetes = self.kubeconfig or "none (hosts watched through Nova and their BMCs)"
            lines.append(f"Cloud {self.cloud!r} from {self.clouds_yaml}; Kubernetes: {kubernetes}")
            lines.append(
                f"Point the catalog's instance-ha endpoint (or --os-endpoint-override) at {self.api_url}/v1"
            )
        lines.append(
            "Commands in another shell (`vigil dead-letters`, `vigil purge`...) use this database "
            "while it runs"
        )
        return "\n".join(lines)


def fast_ticks(period: str, manifests: Manifests) -> tuple[dict[str, str], dict[str, str]]:
    """``--tick 5s``: the monitor and sweep ticks every 5 s instead of every minute, and the
    monitor told its interval is 5 s (it ignores ticks closer than half an interval).

    Returns (schedule overrides by PingSource name, settings for the functions).
    """
    from vigil.wiring import go_duration_seconds

    try:
        seconds = go_duration_seconds(period)
    except WiringError as exc:
        raise DevError(f"--tick: {exc}") from exc
    names = [
        s["metadata"]["name"]
        for s in manifests.of_kind("PingSource")
        if s["metadata"]["name"] != "purge-tick"
    ]
    overrides = {name: f"@every {period}" for name in names}
    return overrides, {"VIGIL_HOST__MONITORING_INTERVAL": str(max(1, round(seconds)))}


def quiet_warnings() -> None:
    """platformdirs warns on machines without XDG_RUNTIME_DIR; not the user's concern here."""
    import warnings

    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


def _dev(args: argparse.Namespace) -> int:
    from vigil.database import clear_dev_state, write_dev_state

    quiet_warnings()
    manifests = load_manifests(MANIFESTS)
    try:
        overrides, env = fast_ticks(args.tick, manifests) if args.tick else ({}, {})
    except DevError as exc:
        print(f"vigil dev: {exc}", file=sys.stderr)
        return 2
    options = DevOptions(
        clouds_yaml=args.clouds_yaml,
        cloud=args.cloud,
        kubeconfig=args.kubeconfig,
        api_port=args.api_port,
        broker_port=args.broker_port,
        database_url=args.database_url,
        data_dir=Path(args.data_dir) if args.data_dir else None,
        hosts=args.hosts,
        region_options={"time_scale": args.time_scale, "servers_per_host": args.servers_per_host},
        tick_overrides=overrides,
        env=env,
        log_dir=Path(args.log_dir) if args.log_dir else None,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with LocalVigil(options, manifests) as local:
            write_dev_state(local.database_url or "", local.api_url)
            print(local.describe(), flush=True)
            print("Ctrl-C stops everything.", flush=True)
            while not stop.wait(1):
                for name, fn in local.functions.items():
                    if fn.process.poll() is not None:
                        raise DevError(
                            f"function {name} stopped (status {fn.process.returncode}); see {fn.log_path}"
                        )
    except DevError as exc:
        print(f"vigil dev: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130 if not stop.is_set() else 0
    finally:
        clear_dev_state()
    return 0


def _dead_letters(args: argparse.Namespace) -> int:
    import datetime as dt

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from shared.db import utcnow
    from shared.deadletters import list_dead_letters
    from vigil.database import resolve_url

    since = utcnow() - dt.timedelta(hours=args.hours) if args.hours else None
    with resolve_url(args.database_url) as url:
        letters = list_dead_letters(
            event_type=args.type, since=since, limit=args.limit, database_url=url
        )
    if args.json:
        import json

        print(json.dumps([d.model_dump(mode="json") for d in letters], indent=2))
        return 0
    if not letters:
        print("no dead letters")
        return 0
    table = Table(title=f"{len(letters)} dead letter(s), newest first")
    for column in ("received (UTC)", "type", "subject", "code", "failed destination", "response"):
        table.add_column(column, overflow="fold")
    for d in letters:  # stored values come from the network: shown as text, never as markup
        table.add_row(
            *(
                Text(value)
                for value in (
                    d.received_at.isoformat(timespec="seconds"),
                    d.event_type,
                    d.subject or "",
                    d.error_code or "-",
                    d.error_dest or "",
                    (d.error_data or "")[:120],
                )
            )
        )
    Console().print(table)
    return 0


def register(sub, db_sub) -> None:
    dev = sub.add_parser(
        "dev",
        help="run all of Vigil locally (simulated region unless --clouds-yaml)",
        description=__doc__.split("\n\n")[1],
    )
    dev.add_argument(
        "--clouds-yaml", help="a real cloud: clouds.yaml holding Vigil's service identity"
    )
    dev.add_argument("--cloud", default="vigil", help="entry in --clouds-yaml (default: vigil)")
    dev.add_argument(
        "--kubeconfig",
        help="a real cloud: kubeconfig of the cluster running its computes (optional)",
    )
    dev.add_argument(
        "--api-port",
        type=int,
        default=MASAKARI_PORT,
        help=f"port of the api function (default {MASAKARI_PORT}, Masakari's; 0 = any free)",
    )
    dev.add_argument(
        "--broker-port", type=int, default=0, help="port of the local broker (default: any free)"
    )
    dev.add_argument(
        "--database-url", help="default: VIGIL_DATABASE_URL, else an embedded PostgreSQL"
    )
    dev.add_argument(
        "--data-dir", help="keep the embedded database here (default: a throwaway one)"
    )
    dev.add_argument("--hosts", type=int, default=8, help="simulated compute hosts (default 8)")
    dev.add_argument(
        "--servers-per-host",
        type=int,
        default=2,
        help="servers the simulated region boots per host",
    )
    dev.add_argument(
        "--time-scale", type=float, default=1.0, help="simulated cloud seconds per real second"
    )
    dev.add_argument(
        "--tick",
        help="run the monitor and sweep ticks at this period (e.g. 10s) instead of every minute",
    )
    dev.add_argument("--log-dir", help="keep the functions' logs here")
    dev.set_defaults(func=_dev)

    dead = sub.add_parser(
        "dead-letters", help="list events the broker gave up delivering (newest first)"
    )
    dead.add_argument(
        "--database-url", help="default: VIGIL_DATABASE_URL, else the embedded database"
    )
    dead.add_argument("--type", help="only this event type")
    dead.add_argument("--hours", type=float, help="only those received in the last N hours")
    dead.add_argument("--limit", type=int, default=100)
    dead.add_argument("--json", action="store_true", help="print JSON instead of a table")
    dead.set_defaults(func=_dead_letters)
