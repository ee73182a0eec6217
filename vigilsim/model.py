"""The region's state: hosts, services, servers, nodes, tokens — one model behind one lock.

Nothing has its own thread. Heartbeats and lease renewals are derived from the cloud clock when
read (a host's nova-compute reports every ``report_interval`` cloud seconds from the moment it
started until it stops); things that happen *later* (an evacuation finishing, a Node turning
``Unknown``) are timed events in one heap, run by whoever touches the model first after they are
due (every request does) or by the region's single timer thread.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from vigilsim.clock import CloudClock

REPORT_INTERVAL = 10.0  # nova-compute's report_interval (cloud seconds)

# Nova power states (nova/compute/power_state.py values).
RUNNING, SHUTDOWN = 1, 4
NETWORKS = ("management", "tenant", "storage")
UNREACHABLE = "node.kubernetes.io/unreachable"  # the node controller's taint key

FLAVORS = {
    "m1.tiny": {"id": "1", "vcpus": 1, "ram": 512, "disk": 1},
    "m1.small": {"id": "2", "vcpus": 1, "ram": 2048, "disk": 20},
    "m1.medium": {"id": "3", "vcpus": 2, "ram": 4096, "disk": 40},
    "m1.large": {"id": "4", "vcpus": 4, "ram": 8192, "disk": 80},
    "m1.xlarge": {"id": "5", "vcpus": 8, "ram": 16384, "disk": 160},
}
FLAVOR_BY_ID = {f["id"]: name for name, f in FLAVORS.items()}


class CloudError(Exception):
    """A request the real service refuses: HTTP status plus the service's message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _uuid() -> str:
    return str(uuid.uuid4())


@dataclass
class Host:
    name: str
    number: int  # Nova's integer service / compute-node id
    service_uuid: str = field(default_factory=_uuid)
    hypervisor_uuid: str = field(default_factory=_uuid)
    node_uid: str = field(default_factory=_uuid)
    powered: bool = True
    compute_running: bool = True
    kubelet_running: bool = True
    compute_since: float = 0.0  # cloud s when nova-compute (re)started reporting
    compute_last: float = 0.0  # last report when it stopped
    kubelet_since: float = 0.0
    kubelet_last: float = 0.0
    status: str = "enabled"
    disabled_reason: str | None = None
    forced_down: bool = False
    # Placement's COMPUTE_STATUS_DISABLED trait on the host's provider: set or cleared by the
    # compute itself (over RPC when Nova counts it up, or at its start), never by the API alone.
    provider_disabled: bool = False
    compute_restarts: int = 0
    capacity: int = 200
    used_vcpus: int = 0
    # vCPUs claimed by moves still in flight: Placement holds them, but the host's compute has
    # not reported them yet, so the scheduler's weighers do not see them.
    inflight_vcpus: int = 0
    networks_cut: set = field(default_factory=set)
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    taints: list = field(default_factory=list)  # spec.taints: the API's and the node controller's
    lease_uid: str = field(default_factory=_uuid)
    ready: str = "True"  # Node Ready condition as the node controller last set it
    ready_since: float = 0.0
    node_rv: int = 0
    node_created: float = 0.0
    kubelet_epoch: int = 0
    unschedulable: bool = False


@dataclass
class Server:
    id: str
    seq: int
    name: str
    project_id: str
    user_id: str
    host: str
    flavor: str
    metadata: dict
    vm_state: str = "active"
    task_state: str | None = None
    power_state: int = RUNNING
    locked: bool = False
    locked_reason: str | None = None
    created: float = 0.0
    updated: float = 0.0
    launched: float = 0.0
    evacuations: int = 0
    image_id: str = ""
    description: str | None = None
    instance_number: int = 0


@dataclass
class Migration:
    id: int
    uuid: str
    server_id: str
    source: str
    dest: str | None
    kind: str  # "evacuation" | "live-migration"
    status: str
    created: float
    updated: float


@dataclass
class Token:
    id: str
    user: dict
    project: dict | None
    roles: list
    methods: list
    issued: float
    expires: float
    audit_id: str

    @property
    def admin(self) -> bool:
        return any(r["name"] == "admin" for r in self.roles)


class Model:
    """All of the region's mutable state; every public method takes ``self.lock``."""

    def __init__(self, clock: CloudClock, config):
        self.clock = clock
        self.cfg = config
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)  # notified on every node change (watches)
        self.hosts: dict[str, Host] = {}
        self.servers: dict[str, Server] = {}
        self._by_seq: dict[int, Server] = {}
        self._seqs: list[int] = []  # every server's seq, ascending (creation order)
        self._host_seqs: dict[str, list[int]] = {}
        self._seq = itertools.count(1)
        self._instance_numbers = itertools.count(1)
        self.migrations: list[Migration] = []
        self._done_evacuations: dict[str, int] = {}
        self.aggregates: dict[int, dict] = {}
        self._aggregate_ids = itertools.count(1)
        self.tokens: dict[str, Token] = {}
        self._timers: list = []
        self._timer_seq = itertools.count()
        self.timer_wakeup: Callable[[], None] = lambda: None
        self._rv = itertools.count(1)
        self.resource_version = 0
        self.node_events: list = []  # (rv, type, host name) for watches, trimmed
        self.events_floor = 0  # watches from an older resourceVersion get 410 Expired
        self.rng = random.Random(config.seed)
        self.projects = {
            "admin": {"id": uuid.uuid5(uuid.NAMESPACE_DNS, "admin.vigil-sim").hex, "name": "admin"},
            "demo": {"id": uuid.uuid5(uuid.NAMESPACE_DNS, "demo.vigil-sim").hex, "name": "demo"},
        }
        self.users = {
            "admin": {
                "id": uuid.uuid5(uuid.NAMESPACE_DNS, "u-admin.vigil-sim").hex,
                "name": "admin",
                "password": config.admin_password,
                "project": "admin",
                "roles": ["admin", "member", "reader"],
            },
            "demo": {
                "id": uuid.uuid5(uuid.NAMESPACE_DNS, "u-demo.vigil-sim").hex,
                "name": "demo",
                "password": config.member_password,
                "project": "demo",
                "roles": ["member", "reader"],
            },
        }

    # ---- clock and timed events ---------------------------------------------------------------

    def now(self) -> float:
        return self.clock.seconds()

    def at(self, delay: float, fn: Callable, *args) -> None:
        """Run ``fn(*args)`` under the lock once ``delay`` cloud seconds have passed."""
        heapq.heappush(self._timers, (self.now() + delay, next(self._timer_seq), fn, args))
        self.timer_wakeup()

    def next_due(self) -> float | None:
        with self.lock:
            return self._timers[0][0] if self._timers else None

    def advance(self) -> None:
        """Run every timed event that is due (in time order)."""
        with self.lock:
            now = self.now()
            while self._timers and self._timers[0][0] <= now:
                _, _, fn, args = heapq.heappop(self._timers)
                fn(*args)

    # ---- hosts, heartbeats ---------------------------------------------------------------------

    def add_host(self, name: str) -> Host:
        with self.lock:
            if name in self.hosts:
                raise CloudError(409, f"host {name} already exists")
            now = self.now()
            host = Host(
                name=name,
                number=len(self.hosts) + 1,
                capacity=self.cfg.host_capacity,
                compute_since=now,
                kubelet_since=now,
                node_created=now,
                ready_since=now,
                labels={
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "node-role.kubernetes.io/compute": "",
                },
            )
            self.hosts[name] = host
            self._host_seqs[name] = []
            self.bump_node(host, "ADDED")
            return host

    def host(self, name: str) -> Host:
        host = self.hosts.get(name)
        if host is None:
            raise CloudError(404, f"Compute host {name} could not be found.")
        return host

    def compute_alive(self, host: Host) -> bool:
        return host.powered and host.compute_running

    def kubelet_alive(self, host: Host) -> bool:
        return host.powered and host.kubelet_running

    def last_report(self, host: Host, now: float | None = None) -> float:
        """When nova-compute last wrote its heartbeat (every REPORT_INTERVAL while alive)."""
        if not self.compute_alive(host):
            return host.compute_last
        now = self.now() if now is None else now
        return (
            host.compute_since + ((now - host.compute_since) // REPORT_INTERVAL) * REPORT_INTERVAL
        )

    def last_renew(self, host: Host, now: float | None = None) -> float:
        """The kubelet's last Lease renewal (every lease_renew_interval while alive)."""
        if not self.kubelet_alive(host):
            return host.kubelet_last
        now = self.now() if now is None else now
        step = self.cfg.lease_renew_interval
        return host.kubelet_since + ((now - host.kubelet_since) // step) * step

    def service_up(self, host: Host, now: float | None = None) -> bool:
        """Nova's servicegroup DB driver: up unless forced down or silent past service_down_time."""
        if host.forced_down:
            return False
        now = self.now() if now is None else now
        return now - self.last_report(host, now) <= self.cfg.service_down_time

    def _stop_compute_clock(self, host: Host) -> None:
        if self.compute_alive(host):
            host.compute_last = self.last_report(host)

    def _stop_kubelet_clock(self, host: Host) -> None:
        if self.kubelet_alive(host):
            host.kubelet_last = self.last_renew(host)
            host.kubelet_epoch += 1
            delay = host.kubelet_last + self.cfg.node_monitor_grace - self.now()
            self.at(max(0.0, delay) + 1e-6, self._node_grace_expired, host, host.kubelet_epoch)

    def _start_compute_clock(self, host: Host) -> None:
        host.compute_since = self.now()
        host.compute_restarts += 1
        host.provider_disabled = host.status == "disabled"  # start-up syncs the trait
        # nova-compute's start-up cleans up instances evacuated away from it
        for m in self.migrations:
            if m.source == host.name and m.kind == "evacuation" and m.status == "done":
                m.status = "completed"
                m.updated = self.now()
        self._done_evacuations.pop(host.name, None)
        # the power-state sync finds guests that died with the host shut off
        for server in self.servers_on(host.name):
            if (
                server.power_state == SHUTDOWN
                and server.vm_state == "active"
                and server.task_state is None
            ):
                server.vm_state = "stopped"
                server.updated = self.now()

    def _start_kubelet_clock(self, host: Host) -> None:
        host.kubelet_since = self.now()
        host.kubelet_epoch += 1
        if host.ready != "True":
            host.ready = "True"
            host.ready_since = self.now()
            host.taints = [t for t in host.taints if t["key"] != UNREACHABLE]
        self.bump_node(host)

    def _node_grace_expired(self, host: Host, epoch: int) -> None:
        if host.kubelet_epoch != epoch or self.kubelet_alive(host):
            return
        host.ready = "Unknown"
        host.ready_since = self.now()
        stamp = self.clock.at(self.now()).strftime("%Y-%m-%dT%H:%M:%SZ")
        host.taints = [t for t in host.taints if t["key"] != UNREACHABLE] + [
            {"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": stamp},
            {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": stamp},
        ]
        self.bump_node(host)

    def bump_node(self, host: Host, kind: str = "MODIFIED") -> None:
        """Record a Node change: new resourceVersion, an event for watches, wake the watchers."""
        host.node_rv = next(self._rv)
        self.resource_version = host.node_rv
        self.node_events.append((host.node_rv, kind, host.name))
        if len(self.node_events) > 20000:
            self.events_floor = self.node_events[10000][0]
            del self.node_events[:10000]
        self.changed.notify_all()

    def node_events_after(self, rv: int) -> list:
        """Node changes newer than resourceVersion ``rv`` (events are kept in rv order)."""
        return self.node_events[bisect.bisect_right(self.node_events, rv, key=lambda e: e[0]) :]

    def power_off(self, name: str) -> None:
        with self.lock:
            host = self.host(name)
            if not host.powered:
                return
            self._stop_compute_clock(host)
            self._stop_kubelet_clock(host)
            host.powered = False
            for server in self.servers_on(name):
                server.power_state = SHUTDOWN
                server.updated = self.now()

    def power_on(self, name: str) -> None:
        with self.lock:
            host = self.host(name)
            if host.powered:
                return
            host.powered = True
            if host.compute_running:
                self._start_compute_clock(host)
            if host.kubelet_running:
                self._start_kubelet_clock(host)

    def stop_service(self, name: str, service: str) -> None:
        with self.lock:
            host = self.host(name)
            if service == "nova-compute":
                self._stop_compute_clock(host)
                host.compute_running = False
            elif service == "kubelet":
                self._stop_kubelet_clock(host)
                host.kubelet_running = False
            else:
                raise CloudError(400, f"unknown service {service!r} (nova-compute or kubelet)")

    def start_service(self, name: str, service: str) -> None:
        with self.lock:
            host = self.host(name)
            if service == "nova-compute":
                if not host.compute_running:
                    host.compute_running = True
                    if host.powered:
                        self._start_compute_clock(host)
            elif service == "kubelet":
                if not host.kubelet_running:
                    host.kubelet_running = True
                    if host.powered:
                        self._start_kubelet_clock(host)
            else:
                raise CloudError(400, f"unknown service {service!r} (nova-compute or kubelet)")

    # ---- nova services -------------------------------------------------------------------------

    def set_service(self, host: Host, *, status=None, reason=None, forced_down=None) -> None:
        """Apply an os-services update (the hang, when due, is the caller's, outside the lock)."""
        with self.lock:
            if forced_down is False and host.forced_down and self._done_evacuations.get(host.name):
                raise CloudError(
                    400,
                    f"Cannot unset forced_down of service on host {host.name}: it has completed "
                    "evacuations whose source compute has not been restarted yet.",
                )
            if forced_down is not None:
                host.forced_down = forced_down
            if status is not None:
                host.status = status
                host.disabled_reason = reason if status == "disabled" else None
                # nova-api tells the compute to update its provider's trait only while it counts
                # the service up: enabling a service still counted down (Nova 34) leaves the
                # trait, and the host unschedulable, until nova-compute restarts.
                if self.service_up(host) and self.compute_alive(host):
                    host.provider_disabled = status == "disabled"
            elif reason is not None:
                host.disabled_reason = reason

    def rpc_hangs(self, host: Host) -> bool:
        """Nova calls the compute over RPC on enable/disable only if it counts the service up."""
        return self.service_up(host) and not self.compute_alive(host)

    # ---- servers -------------------------------------------------------------------------------

    def server_count(self, host_name: str) -> int:
        return len(self._host_seqs.get(host_name, ()))

    def servers_on(self, host_name: str) -> list[Server]:
        return [self._by_seq[s] for s in self._host_seqs.get(host_name, ())]

    def _index(self, server: Server) -> None:
        bisect.insort(self._host_seqs.setdefault(server.host, []), server.seq)

    def _unindex(self, server: Server) -> None:
        seqs = self._host_seqs[server.host]
        seqs.pop(bisect.bisect_left(seqs, server.seq))

    def _move(self, server: Server, target: str) -> None:
        self._unindex(server)
        self.hosts[server.host].used_vcpus -= FLAVORS[server.flavor]["vcpus"]
        server.host = target
        self._index(server)
        self.hosts[target].used_vcpus += FLAVORS[server.flavor]["vcpus"]

    def boot(
        self,
        host_name: str | None,
        name: str | None,
        metadata: dict | None,
        flavor: str,
        vm_state: str = "active",
        project: str = "admin",
        user: str = "admin",
    ) -> Server:
        with self.lock:
            if flavor not in FLAVORS:
                raise CloudError(400, f"Flavor {flavor} could not be found.")
            vcpus = FLAVORS[flavor]["vcpus"]
            if host_name is None:
                host_name = self.schedule(vcpus, exclude=())
                if host_name is None:
                    raise CloudError(
                        400, "No valid host was found. There are not enough hosts available."
                    )
            host = self.host(host_name)
            seq = next(self._seq)
            now = self.now()
            number = next(self._instance_numbers)
            server = Server(
                id=_uuid(),
                seq=seq,
                name=name or f"vm-{seq:06d}",
                project_id=self.projects[project]["id"],
                user_id=self.users[user]["id"],
                host=host.name,
                flavor=flavor,
                metadata=dict(metadata or {}),
                vm_state=vm_state,
                power_state=RUNNING if vm_state == "active" and host.powered else SHUTDOWN,
                created=now,
                updated=now,
                launched=now,
                image_id="cirros",
                instance_number=number,
            )
            self.servers[server.id] = server
            self._by_seq[seq] = server
            self._seqs.append(seq)
            self._index(server)
            host.used_vcpus += vcpus
            return server

    def get_server(self, server_id: str) -> Server:
        server = self.servers.get(server_id)
        if server is None:
            raise CloudError(404, f"Instance {server_id} could not be found.")
        return server

    def delete_server(self, server_id: str) -> None:
        with self.lock:
            server = self.get_server(server_id)
            self._unindex(server)
            self.hosts[server.host].used_vcpus -= FLAVORS[server.flavor]["vcpus"]
            self._seqs.pop(bisect.bisect_left(self._seqs, server.seq))
            del self._by_seq[server.seq]
            del self.servers[server_id]

    def list_servers(self, *, host=None, project_id=None, marker=None, limit=None, predicate=None):
        """Servers newest first (Nova's default sort: created_at desc), paged after ``marker``."""
        with self.lock:
            seqs = self._host_seqs.get(host, []) if host is not None else self._seqs
            end = len(seqs)
            if marker is not None:
                marked = self.servers.get(marker)
                if marked is None:
                    raise CloudError(400, f"marker [{marker}] not found")
                end = bisect.bisect_left(seqs, marked.seq)
            out = []
            for i in range(end - 1, -1, -1):
                server = self._by_seq[seqs[i]]
                if project_id is not None and server.project_id != project_id:
                    continue
                if predicate is not None and not predicate(server):
                    continue
                out.append(server)
                if limit is not None and len(out) >= limit:
                    break
            return out

    def schedule(self, vcpus: int, exclude=(), only: str | None = None) -> str | None:
        """Nova's filter scheduler, reduced: enabled, up, with room; the emptiest host wins.

        Room counts every claim (Placement refuses a host that is full), but "emptiest" is
        judged from what each compute last reported, as Nova's weighers do: moves still in
        flight are invisible, so concurrent evacuations all land on the same host until its
        compute reports. ``scheduler_spread`` counts them at once instead;
        ``scheduler_host_subset_size`` picks at random among that many best hosts (Nova's
        ``[filter_scheduler] host_subset_size``).
        """
        candidates = [self.hosts[only]] if only else self.hosts.values()
        ranked = []
        now = self.now()
        for host in candidates:
            if (
                host.name in exclude
                or host.status != "enabled"
                or host.provider_disabled
                or not self.service_up(host, now)
            ):
                continue
            free = host.capacity - host.used_vcpus
            if free < vcpus:
                continue
            reported = free if self.cfg.scheduler_spread else free + host.inflight_vcpus
            ranked.append((reported, host.name))
        if not ranked:
            return None
        ranked.sort(key=lambda r: -r[0])  # stable: among equals the first host listed wins
        best = ranked[: max(1, self.cfg.scheduler_host_subset_size)]
        return best[0][1] if len(best) == 1 else self.rng.choice(best)[1]

    def _check_state(self, server: Server, action: str, vm_states) -> None:
        if server.task_state is not None:
            raise CloudError(
                409,
                f"Cannot '{action}' instance {server.id} while it is in task_state {server.task_state}",
            )
        if server.vm_state not in vm_states:
            raise CloudError(
                409,
                f"Cannot '{action}' instance {server.id} while it is in vm_state {server.vm_state}",
            )

    def _check_lock(self, server: Server, admin: bool) -> None:
        if server.locked and not admin:
            raise CloudError(409, f"Instance {server.id} is locked")

    def evacuate(
        self, server_id: str, target: str | None, microversion: tuple[int, int], force: bool = False
    ) -> None:
        """Nova's evacuate: refused while the source compute counts as up; runs asynchronously.

        ``force`` (2.29–2.67) sends the server to ``target`` without asking the scheduler.
        """
        with self.lock:
            server = self.get_server(server_id)
            source = self.hosts[server.host]
            self._check_state(server, "evacuate", ("active", "stopped", "error"))
            if target is not None:
                if target == source.name:
                    raise CloudError(400, "The target host can't be the same one.")
                self.host(target)
            if self.service_up(source):
                raise CloudError(409, f"Compute service of {source.name} is still in use.")
            server.evacuations += 1
            server.task_state = "rebuilding"
            server.updated = self.now()
            migration = self._migration(server, "evacuation")
            vcpus = FLAVORS[server.flavor]["vcpus"]
            if force and target is not None:
                dest = target
            else:
                dest = self.schedule(vcpus, exclude=(source.name,), only=target)
            if dest is not None:
                self.hosts[dest].used_vcpus += vcpus  # the claim on the target
                self.hosts[dest].inflight_vcpus += vcpus
            keep_stopped = microversion >= (2, 95) or server.vm_state == "stopped"
            self.at(
                self.cfg.evacuation_latency,
                self._finish_evacuation,
                server,
                migration,
                dest,
                keep_stopped,
            )

    def _migration(self, server: Server, kind: str) -> Migration:
        now = self.now()
        migration = Migration(
            id=len(self.migrations) + 1,
            uuid=_uuid(),
            server_id=server.id,
            source=server.host,
            dest=None,
            kind=kind,
            status="accepted",
            created=now,
            updated=now,
        )
        self.migrations.append(migration)
        return migration

    def _finish_evacuation(self, server: Server, migration: Migration, dest, keep_stopped) -> None:
        now = self.now()
        migration.updated = now
        server.updated = now
        server.task_state = None
        if dest is None:
            server.vm_state = "error"
            migration.status = "error"
            return
        self.hosts[dest].used_vcpus -= FLAVORS[server.flavor]["vcpus"]  # the claim is released…
        self.hosts[dest].inflight_vcpus -= FLAVORS[server.flavor]["vcpus"]
        if server.id not in self.servers:
            migration.status = "cancelled"
            return
        self._move(server, dest)  # …and becomes usage on the target
        migration.dest = dest
        migration.status = "done"
        self._done_evacuations[migration.source] = (
            self._done_evacuations.get(migration.source, 0) + 1
        )
        if keep_stopped:
            server.vm_state, server.power_state = "stopped", SHUTDOWN
        else:
            server.vm_state, server.power_state = "active", RUNNING
        server.launched = now

    def live_migrate(self, server_id: str, target: str | None, admin: bool) -> None:
        with self.lock:
            server = self.get_server(server_id)
            self._check_lock(server, admin)
            self._check_state(server, "os-migrateLive", ("active", "paused"))
            source = self.hosts[server.host]
            if not self.service_up(source):
                raise CloudError(
                    400, f"Compute service of {source.name} is unavailable at this time."
                )
            if target is not None:
                if target == source.name:
                    raise CloudError(
                        400,
                        f"Unable to migrate instance ({server.id}) to current host ({source.name}).",
                    )
                self.host(target)
            vcpus = FLAVORS[server.flavor]["vcpus"]
            dest = self.schedule(vcpus, exclude=(source.name,), only=target)
            if dest is None:
                raise CloudError(
                    400, "No valid host was found. There are not enough hosts available."
                )
            self.hosts[dest].used_vcpus += vcpus
            self.hosts[dest].inflight_vcpus += vcpus
            server.task_state = "migrating"
            migration = self._migration(server, "live-migration")
            migration.dest = dest
            self.at(
                self.cfg.evacuation_latency, self._finish_live_migration, server, migration, dest
            )

    def _finish_live_migration(self, server: Server, migration: Migration, dest: str) -> None:
        server.task_state = None
        server.updated = migration.updated = self.now()
        self.hosts[dest].used_vcpus -= FLAVORS[server.flavor]["vcpus"]
        self.hosts[dest].inflight_vcpus -= FLAVORS[server.flavor]["vcpus"]
        if server.id not in self.servers:
            migration.status = "cancelled"
            return
        self._move(server, dest)
        migration.status = "completed"

    def stop_server(self, server_id: str, admin: bool) -> None:
        with self.lock:
            server = self.get_server(server_id)
            self._check_lock(server, admin)
            self._check_state(server, "stop", ("active", "error"))
            server.task_state = "powering-off"
            server.updated = self.now()
            if self.compute_alive(self.hosts[server.host]):
                self.at(self.cfg.stop_latency, self._power_done, server, "stopped", SHUTDOWN)

    def start_server(self, server_id: str, admin: bool) -> None:
        with self.lock:
            server = self.get_server(server_id)
            self._check_lock(server, admin)
            self._check_state(server, "start", ("stopped",))
            server.task_state = "powering-on"
            server.updated = self.now()
            if self.compute_alive(self.hosts[server.host]):
                self.at(self.cfg.start_latency, self._power_done, server, "active", RUNNING)

    def _power_done(self, server: Server, vm_state: str, power_state: int) -> None:
        if server.task_state not in ("powering-off", "powering-on"):
            return
        server.task_state = None
        server.vm_state = vm_state
        server.power_state = power_state
        server.updated = self.now()

    def crash_server(self, server_id: str) -> None:
        """The guest died on its own (QEMU crash): Nova's lifecycle-event sync records it stopped."""
        with self.lock:
            server = self.get_server(server_id)
            server.power_state = SHUTDOWN
            if server.vm_state == "active" and server.task_state is None:
                server.vm_state = "stopped"
            server.updated = self.now()

    def lock_server(self, server_id: str, locked: bool, reason: str | None = None) -> None:
        with self.lock:
            server = self.get_server(server_id)
            server.locked = locked
            server.locked_reason = reason if locked else None
            server.updated = self.now()

    def reset_state(self, server_id: str, state: str) -> None:
        with self.lock:
            server = self.get_server(server_id)
            server.vm_state = state
            server.task_state = None
            server.updated = self.now()

    # ---- aggregates ----------------------------------------------------------------------------

    def add_aggregate(self, name: str, hosts=(), zone: str | None = None) -> dict:
        with self.lock:
            if any(a["name"] == name for a in self.aggregates.values()):
                raise CloudError(409, f"Aggregate {name} already exists.")
            aid = next(self._aggregate_ids)
            now = self.now()
            aggregate = {
                "id": aid,
                "uuid": _uuid(),
                "name": name,
                "availability_zone": zone,
                "hosts": [],
                "metadata": {},
                "created": now,
                "updated": None,
            }
            if zone:
                aggregate["metadata"]["availability_zone"] = zone
            self.aggregates[aid] = aggregate
            for h in hosts:
                self.aggregate_host(aid, h, add=True)
            return aggregate

    def aggregate(self, aid) -> dict:
        try:
            return self.aggregates[int(aid)]
        except (KeyError, ValueError):
            raise CloudError(404, f"Aggregate {aid} could not be found.") from None

    def aggregate_host(self, aid, host_name: str, add: bool) -> dict:
        with self.lock:
            aggregate = self.aggregate(aid)
            if host_name not in self.hosts:
                raise CloudError(404, f"Compute host {host_name} could not be found.")
            if add:
                if host_name in aggregate["hosts"]:
                    raise CloudError(
                        409, f"Aggregate {aggregate['id']} already has host {host_name}."
                    )
                aggregate["hosts"].append(host_name)
            else:
                if host_name not in aggregate["hosts"]:
                    raise CloudError(
                        404, f"Cannot remove host {host_name} in aggregate {aggregate['id']}"
                    )
                aggregate["hosts"].remove(host_name)
            aggregate["updated"] = self.now()
            return aggregate

    # ---- keystone tokens -----------------------------------------------------------------------

    def issue_token(self, user_name: str, project_name: str | None, methods: list) -> Token:
        with self.lock:
            user = self.users[user_name]
            now = self.now()
            project = None
            roles = []
            if project_name is not None:
                project = self.projects[project_name]
                roles = [
                    {"id": uuid.uuid5(uuid.NAMESPACE_DNS, r).hex, "name": r} for r in user["roles"]
                ]
            token = Token(
                id="gAAAA" + uuid.uuid4().hex + uuid.uuid4().hex,
                user={"id": user["id"], "name": user["name"]},
                project=project,
                roles=roles,
                methods=methods,
                issued=now,
                expires=now + self.cfg.token_ttl,
                audit_id=uuid.uuid4().hex[:22],
            )
            self.tokens[token.id] = token
            if len(self.tokens) > 50000:
                for key in [k for k, t in self.tokens.items() if t.expires < now]:
                    del self.tokens[key]
            return token

    def token(self, token_id: str | None) -> Token | None:
        """A valid, unexpired token or ``None``."""
        if not token_id:
            return None
        token = self.tokens.get(token_id)
        if token is None or token.expires <= self.now():
            return None
        return token
