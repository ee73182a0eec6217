"""``Region``: start a simulated region, point real clients at it, break it on purpose."""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime

import yaml

from vigilsim.clock import CloudClock, http_date
from vigilsim.control import Control
from vigilsim.http import DropConnection, HttpServer, Request, Response
from vigilsim.keystone import Keystone
from vigilsim.keystone import fault as keystone_fault
from vigilsim.kube import Kubernetes, status_object
from vigilsim.model import NETWORKS, CloudError, Model
from vigilsim.network import EAGER_LIMIT, Listeners
from vigilsim.nova import Nova
from vigilsim.nova import fault as nova_fault
from vigilsim.placement import Placement
from vigilsim.redfish import Redfish

APIS = ("keystone", "nova", "kubernetes", "redfish", "ipmi", "placement")
LOG_LIMIT = 200_000  # request_log entries kept
_PREFIXES = {
    "/identity": "keystone",
    "/compute": "nova",
    "/placement": "placement",
    "/k8s": "kubernetes",
    "/redfish": "redfish",
    "/control": "control",
    "/consul": "consul",
}


@dataclass
class Config:
    time_scale: float = 1.0
    service_down_time: float = 60
    evacuation_latency: float = 5
    stop_latency: float = 1
    start_latency: float = 1
    node_monitor_grace: float = 50
    lease_renew_interval: float = 10
    lease_duration: float = 40
    rpc_response_timeout: float = 60
    host_capacity: int = 200
    max_microversion: str = "2.96"
    token_ttl: float = 3600
    admin_password: str = "vigil-sim-admin"
    member_password: str = "vigil-sim-demo"
    seed: int = 0
    hypervisor_domain: str | None = None
    # Nova's scheduler weighs hosts by what their computes last reported (see Model.schedule).
    scheduler_spread: bool = False
    scheduler_host_subset_size: int = 1
    # Cloud seconds a keep-alive connection may idle before the server closes it (eventlet's
    # client_socket_timeout); None keeps connections open. A request arriving in the last
    # idle_race seconds before the close is lost with a reset (see vigilsim.http).
    idle_timeout: float | None = None
    idle_race: float = 0.0


@dataclass
class Faults:
    down: bool = False
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    latency: float = 0.0
    hang: float = 10.0  # real seconds an injected timeout hangs before dropping the connection
    error_status: int = 503


class Region:
    """A running simulated region; see /work/notes/SIM_API.md for the contract."""

    cloud_name = "vigil-sim"

    def __init__(
        self,
        hosts,
        servers_per_host,
        config: Config,
        instance_ha_url,
        workdir,
        port,
        redfish,
        host_pattern="compute-{:03d}",
    ):
        self.config = config
        self.clock = CloudClock(config.time_scale)
        self.model = Model(self.clock, config)
        self.instance_ha_url = instance_ha_url
        self.redfish_enabled = redfish
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="vigilsim-")
        os.makedirs(self.workdir, exist_ok=True)
        self.faults = {api: Faults() for api in APIS}
        self._fault_rng = random.Random(config.seed + 1)
        self.request_log: list[tuple[str, str, str, int]] = []
        self.idle_drops: list[Request] = []
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self.model.timer_wakeup = self._wake.set
        self.http = HttpServer(
            self._dispatch,
            port=port,
            date_header=lambda: http_date(self.clock.now()),
            idle_timeout=self._idle_timeout,
            on_idle_drop=self._log_idle_drop,
        )
        base = self.http.url
        self.url = base
        self.keystone_url = f"{base}/identity"
        self.nova_url = f"{base}/compute/v2.1"
        self.placement_url = f"{base}/placement"
        self.kubernetes_url = f"{base}/k8s"
        self.control_url = f"{base}/control"
        self.redfish_url_template = f"{base}/redfish/v1/Systems/{{host}}"

        self.listeners = Listeners(self.model)
        self.keystone = Keystone(self.model, self.keystone_url, self._catalog)
        self.nova = Nova(
            self.model,
            f"{base}/compute",
            config.max_microversion,
            lambda: self.config.rpc_response_timeout,
            config.hypervisor_domain,
        )
        self.placement = Placement(
            self.model,
            self.placement_url,
            f".{config.hypervisor_domain}" if config.hypervisor_domain else "",
        )
        self.kubernetes = Kubernetes(self.model, self)
        self.redfish = Redfish(self.model)
        self.control = Control(self)
        self._handlers = {
            "keystone": self.keystone.handle,
            "nova": self.nova.handle,
            "placement": self.placement.handle,
            "kubernetes": self.kubernetes.handle,
            "redfish": self.redfish.handle,
            "control": self.control.handle,
            "consul": self.listeners.handle_consul,
        }

        names = (
            [host_pattern.format(i) for i in range(hosts)]
            if isinstance(hosts, int)
            else list(hosts)
        )
        for name in names:
            self.model.add_host(name)
        for i in range(servers_per_host):
            for name in names:
                self.model.boot(
                    name, None, {"HA_Enabled": "True"} if i % 2 == 0 else {}, "m1.small"
                )
        self.listeners.open_all()
        self.redfish.on_power = self.listeners.host_changed
        self.clouds_yaml = os.path.join(self.workdir, "clouds.yaml")
        self.kubeconfig = os.path.join(self.workdir, "kubeconfig")
        self._write_configs()
        self._timer = threading.Thread(target=self._run_timers, name="vigilsim-timers", daemon=True)
        self._ipmi = None
        self.ipmi_addresses: dict[str, str] = {}

    # ---- lifecycle -----------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        hosts=8,
        servers_per_host=0,
        time_scale=1.0,
        service_down_time=60,
        evacuation_latency=5,
        stop_latency=1,
        start_latency=1,
        node_monitor_grace=50,
        lease_renew_interval=10,
        lease_duration=40,
        rpc_response_timeout=60,
        host_capacity=200,
        max_microversion="2.96",
        instance_ha_url=None,
        workdir=None,
        port=0,
        redfish=True,
        token_ttl=3600,
        seed=0,
        host_pattern="compute-{:03d}",
        hypervisor_domain=None,
        scheduler_spread=False,
        scheduler_host_subset_size=1,
        idle_timeout=None,
        idle_race=0.0,
    ) -> Region:
        """Start serving; ``hosts`` is a count (named by ``host_pattern``) or a list of names."""
        config = Config(
            time_scale=time_scale,
            service_down_time=service_down_time,
            evacuation_latency=evacuation_latency,
            stop_latency=stop_latency,
            start_latency=start_latency,
            node_monitor_grace=node_monitor_grace,
            lease_renew_interval=lease_renew_interval,
            lease_duration=lease_duration,
            rpc_response_timeout=rpc_response_timeout,
            host_capacity=host_capacity,
            max_microversion=max_microversion,
            token_ttl=token_ttl,
            seed=seed,
            hypervisor_domain=hypervisor_domain,
            scheduler_spread=scheduler_spread,
            scheduler_host_subset_size=scheduler_host_subset_size,
            idle_timeout=idle_timeout,
            idle_race=idle_race,
        )
        region = cls(
            hosts, servers_per_host, config, instance_ha_url, workdir, port, redfish, host_pattern
        )
        region.http.start()
        region._timer.start()
        return region

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        if self._ipmi is not None:
            self._ipmi.terminate()
            self._ipmi.wait(10)
        with self.model.lock:
            self.model.changed.notify_all()
        self.http.stop()
        self.listeners.close()
        self._timer.join(timeout=5)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Region:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run_timers(self) -> None:
        """The one background thread: runs timed events when due even if nobody is asking."""
        while not self._stopping.is_set():
            self._wake.clear()  # before reading the next due time, so a new event always wakes us
            self.model.advance()
            due = self.model.next_due()
            wait = 1.0 if due is None else min(1.0, self.clock.real_delay(due - self.model.now()))
            if wait > 0:
                self._wake.wait(wait)

    # ---- HTTP ----------------------------------------------------------------------------------

    def _dispatch(self, req: Request) -> Response:
        path = req.path
        api, req.path = _split(path)
        if api is None:
            self._log("unknown", req, 404)
            return Response.json(404, {"error": {"code": 404, "message": f"no service at {path}"}})
        if api == "redfish" and not self.redfish_enabled:
            self._log(api, req, 404)
            return Response.json(
                404,
                {
                    "error": {
                        "code": "Base.1.0.ResourceMissingAtURI",
                        "message": "Redfish is not served by this region",
                    }
                },
            )
        faults = self.faults.get(api)
        if faults is not None:
            injected = self._inject(api, req, faults)
            if injected is not None:
                self._log(api, req, injected.status)
                return injected
        self.model.advance()
        try:
            response = self._handlers[api](req)
        except CloudError as exc:  # a model refusal the service layer did not shape itself
            response = Response.json(
                exc.status, {"error": {"code": exc.status, "message": exc.message}}
            )
        except Exception:  # a simulator bug: answer in the service's 500 shape, never drop silently
            traceback.print_exc()
            response = _service_fault(api, 500, "vigilsim internal error (a simulator bug)")
        self._log(api, req, response.status)
        return response

    def _inject(self, api: str, req: Request, faults: Faults) -> Response | None:
        """Apply the API's injected failure: drop, hang then drop, delay, or a 5xx fault body."""
        if faults.down:
            self._log(api, req, 0)
            raise DropConnection()
        if faults.latency:
            time.sleep(faults.latency)
        draw = self._fault_rng.random()
        if draw < faults.timeout_rate:
            self._log(api, req, 0)
            deadline = time.monotonic() + faults.hang
            while time.monotonic() < deadline and not self._stopping.is_set():
                time.sleep(0.05)
            raise DropConnection()
        if draw < faults.timeout_rate + faults.error_rate:
            return _service_fault(api, faults.error_status)
        return None

    def _idle_timeout(self) -> tuple[float, float] | None:
        idle = self.config.idle_timeout
        if idle is None:
            return None
        return self.clock.real_delay(idle), self.clock.real_delay(min(self.config.idle_race, idle))

    def _log_idle_drop(self, req: Request) -> None:
        """A request lost on a dropped idle connection: logged with status 0, like a timeout,
        and kept whole in ``idle_drops`` so a test can tell which call it was."""
        api, req.path = _split(req.path)
        self._log(api or "unknown", req, 0)
        self.idle_drops.append(req)

    def _log(self, api: str, req: Request, status: int) -> None:
        log = self.request_log
        log.append((api, req.method, req.path, status))
        if len(log) > LOG_LIMIT:  # long benchmarks: keep the newest half
            del log[: LOG_LIMIT // 2]

    # ---- configuration files -------------------------------------------------------------------

    @property
    def admin_credentials(self) -> dict:
        return {
            "auth_url": self.keystone_url,
            "username": "admin",
            "password": self.config.admin_password,
            "project_name": "admin",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        }

    @property
    def member_credentials(self) -> dict:
        return {
            "auth_url": self.keystone_url,
            "username": "demo",
            "password": self.config.member_password,
            "project_name": "demo",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        }

    def _catalog(self) -> list:
        entries = [
            ("identity", "keystone", self.keystone_url + "/v3"),
            ("compute", "nova", self.nova_url),
            ("placement", "placement", self.placement_url),
        ]
        if self.instance_ha_url:
            entries.append(("instance-ha", "masakari", self.instance_ha_url))
        catalog = []
        for kind, name, url in entries:
            catalog.append(
                {
                    "id": f"{name}-service",
                    "type": kind,
                    "name": name,
                    "endpoints": [
                        {
                            "id": f"{name}-{iface}",
                            "interface": iface,
                            "region": "RegionOne",
                            "region_id": "RegionOne",
                            "url": url,
                        }
                        for iface in ("public", "internal", "admin")
                    ],
                }
            )
        return catalog

    def _write_configs(self) -> None:
        def cloud(credentials):
            return {
                "auth": credentials,
                "region_name": "RegionOne",
                "identity_api_version": 3,
                "interface": "public",
            }

        admin = cloud(self.admin_credentials)
        clouds = {
            "clouds": {
                self.cloud_name: admin,
                f"{self.cloud_name}-member": cloud(self.member_credentials),
                "vigil": cloud(self.admin_credentials),
            }
        }
        with open(self.clouds_yaml, "w") as fh:
            yaml.safe_dump(clouds, fh, sort_keys=False)
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "vigil-sim",
            "preferences": {},
            "clusters": [{"name": "vigil-sim", "cluster": {"server": self.kubernetes_url}}],
            "users": [{"name": "vigil-sim", "user": {"token": "vigil-sim-token"}}],
            "contexts": [
                {"name": "vigil-sim", "context": {"cluster": "vigil-sim", "user": "vigil-sim"}}
            ],
        }
        with open(self.kubeconfig, "w") as fh:
            yaml.safe_dump(kubeconfig, fh, sort_keys=False)

    def issue_token(self, admin: bool = True) -> str:
        user, project = ("admin", "admin") if admin else ("demo", "demo")
        return self.model.issue_token(user, project, ["password"]).id

    # ---- scenario setup ------------------------------------------------------------------------

    def boot_server(
        self, host, name=None, metadata=None, flavor="m1.small", vm_state="active"
    ) -> str:
        return self.model.boot(host, name, metadata, flavor, vm_state=vm_state).id

    def add_host(self, name: str) -> None:
        self.model.add_host(name)
        if len(self.model.hosts) <= EAGER_LIMIT:
            for net in NETWORKS:
                self.listeners.address(name, net)

    def set_reserved(self, host: str) -> None:
        with self.model.lock:
            self.model.set_service(self.model.host(host), status="disabled", reason="reserved host")

    def add_aggregate(self, name: str, hosts=()) -> int:
        return self.model.add_aggregate(name, hosts)["id"]

    # ---- failure control -----------------------------------------------------------------------

    def power_off(self, host: str) -> None:
        self.model.power_off(host)
        self.listeners.host_changed(host)

    def power_on(self, host: str) -> None:
        self.model.power_on(host)
        self.listeners.host_changed(host)

    def power_state(self, host: str) -> str:
        return "on" if self.model.host(host).powered else "off"

    def bmc_power(self, host: str, action: str) -> str:
        """What a host's IPMI BMC does: ``status``, ``off`` or ``on``; 503 while ipmi is down."""
        if self.faults["ipmi"].down:
            raise CloudError(503, "the BMCs are unreachable (ipmi set down)")
        if action == "off":
            self.power_off(host)
        elif action == "on":
            self.power_on(host)
        elif action != "status":
            raise CloudError(400, f"unknown BMC action {action!r} (status, off, on)")
        return self.power_state(host)

    def set_bmc_credentials(self, host: str, username: str, password: str) -> None:
        """Redfish answers 401 for this host's system without this login."""
        self.model.host(host)
        self.redfish.credentials[host] = (username, password)

    def start_ipmi(self, logins: dict | None = None, username="admin", password="vigil-sim-bmc"):
        """Serve an IPMI BMC per host on loopback (once); ``logins`` gives a host its own
        ``[user, password]``. Returns each host's ``127.0.0.1:<port>``."""
        if self._ipmi is None:
            from vigilsim import ipmi

            every = {name: (username, password) for name in self.model.hosts}
            every.update({name: tuple(login) for name, login in (logins or {}).items()})
            self._ipmi, self.ipmi_addresses = ipmi.start(self.control_url, every)
        return dict(self.ipmi_addresses)

    def stop_service(self, host: str, service: str) -> None:
        self.model.stop_service(host, service)

    def start_service(self, host: str, service: str) -> None:
        self.model.start_service(host, service)

    def cut_network(self, host: str, net: str) -> None:
        self._network(host, net).add(net)
        self.listeners.host_changed(host)

    def restore_network(self, host: str, net: str) -> None:
        self._network(host, net).discard(net)
        self.listeners.host_changed(host)

    def _network(self, host: str, net: str) -> set:
        if net not in NETWORKS:
            raise CloudError(400, f"unknown network {net!r} (one of {', '.join(NETWORKS)})")
        return self.model.host(host).networks_cut

    def network_address(self, host: str, net: str) -> tuple[str, int]:
        self._network(host, net)
        return self.listeners.address(host, net)

    def consul_url(self, net: str) -> str:
        """A Consul agent's base URL for one network (``GET <url>/v1/agent/members``)."""
        if net not in NETWORKS:
            raise CloudError(400, f"unknown network {net!r} (one of {', '.join(NETWORKS)})")
        return f"{self.url}/consul/{net}"

    def set_api_down(self, api: str, down: bool = True) -> None:
        self._faults(api).down = down

    def inject_faults(
        self,
        api: str,
        error_rate: float = 0.0,
        timeout_rate: float = 0.0,
        latency: float = 0.0,
        hang: float = 10.0,
        error_status: int = 503,
    ) -> None:
        faults = self._faults(api)
        if not (0 <= error_rate <= 1 and 0 <= timeout_rate <= 1 and error_rate + timeout_rate <= 1):
            raise CloudError(
                400, "error_rate and timeout_rate must be within 0..1 and sum to at most 1"
            )
        if not 500 <= error_status <= 599:
            raise CloudError(400, "error_status must be a 5xx status")
        faults.error_rate, faults.timeout_rate, faults.latency = error_rate, timeout_rate, latency
        faults.hang, faults.error_status = hang, error_status

    def _faults(self, api: str) -> Faults:
        if api not in self.faults:
            raise CloudError(400, f"unknown api {api!r} (one of {', '.join(APIS)})")
        return self.faults[api]

    def crash_server(self, server_id: str) -> None:
        """A VM's process dies while its host stays up (what an instance monitor notices)."""
        self.model.crash_server(server_id)

    def taint_out_of_service(self, host: str) -> None:
        self.kubernetes.add_taint(
            host,
            {
                "key": "node.kubernetes.io/out-of-service",
                "value": "nodeshutdown",
                "effect": "NoExecute",
            },
        )

    # ---- reading state -------------------------------------------------------------------------

    def server(self, server_id: str) -> dict:
        with self.model.lock:
            self.model.advance()
            s = self.model.get_server(server_id)
            return {
                "id": s.id,
                "name": s.name,
                "host": s.host,
                "vm_state": s.vm_state,
                "task_state": s.task_state,
                "power_state": s.power_state,
                "locked": s.locked,
                "metadata": dict(s.metadata),
                "evacuations": s.evacuations,
                "flavor": s.flavor,
                "project_id": s.project_id,
            }

    def servers(self, host: str | None = None) -> list[dict]:
        with self.model.lock:
            self.model.advance()
            ids = (
                [s.id for s in self.model.list_servers(host=host)]
                if host is None or host in self.model.hosts
                else []
            )
            return [self.server(i) for i in ids]

    def service(self, host: str) -> dict:
        with self.model.lock:
            self.model.advance()
            h = self.model.host(host)
            return {
                "host": h.name,
                "id": h.service_uuid,
                "status": h.status,
                "disabled_reason": h.disabled_reason,
                "forced_down": h.forced_down,
                "state": "up" if self.model.service_up(h) else "down",
                "powered": h.powered,
                "compute_running": h.compute_running,
                "kubelet_running": h.kubelet_running,
            }

    def node(self, host: str) -> dict:
        return self.kubernetes.node_summary(host)

    def evacuation_count(self, server_id: str) -> int:
        with self.model.lock:
            return self.model.get_server(server_id).evacuations

    def now(self) -> datetime:
        return self.clock.now()

    def sleep(self, cloud_seconds: float) -> None:
        self.clock.sleep(cloud_seconds)
        self.model.advance()

    @property
    def hosts(self) -> list[str]:
        return list(self.model.hosts)


def _split(path: str) -> tuple[str | None, str]:
    """The service a region path belongs to, and the path below its prefix."""
    for prefix, name in _PREFIXES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return name, path[len(prefix) :]
    return None, path


def _service_fault(api: str, status: int, message: str = "injected failure (vigilsim)") -> Response:
    """A failure reply in the shape the named service uses for its own errors."""
    if api == "nova":
        return nova_fault(status, message)
    if api == "keystone":
        return keystone_fault(status, message)
    if api == "kubernetes":
        return status_object(
            status, "ServiceUnavailable" if status == 503 else "InternalError", message
        )
    return Response.json(status, {"error": {"code": status, "message": message}})
