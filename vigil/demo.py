"""``vigil demo``: watch Vigil recover the servers of a compute host that loses power.

Starts everything ``vigil dev`` starts against a simulated region running faster than real
time, registers the region's computes in a failover segment through the instance-ha API (as an
operator would with openstacksdk), boots HA_Enabled servers on one host, powers that host off,
and shows detection, fencing and each evacuation as they happen. Exits 0 only when every
HA_Enabled server runs again on another host.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.dev import DevError, DevOptions, LocalVigil, fast_ticks, quiet_warnings
from vigil.wiring import go_duration_seconds, load_manifests

HA_KEY = "HA_Enabled"
REGION_TIMING = {  # cloud seconds; divided by the time scale in real time
    "service_down_time": 60,
    "node_monitor_grace": 50,
    "lease_renew_interval": 10,
    "lease_duration": 40,
    "evacuation_latency": 40,
}


@dataclass
class Timeline:
    """What happened when, in seconds since the host lost power."""

    started: float = field(default_factory=time.monotonic)
    zero: float | None = None
    events: list[tuple[float, str]] = field(default_factory=list)
    details: set[int] = field(default_factory=set)  # indexes shown live only, not in the summary

    def add(self, text: str, detail: bool = False) -> None:
        origin = self.zero if self.zero is not None else self.started
        if detail:
            self.details.add(len(self.events))
        self.events.append((time.monotonic() - origin, text))

    def since_zero(self) -> float:
        return time.monotonic() - (self.zero or self.started)


def _connect(clouds_yaml: str, cloud: str):
    import openstack
    from openstack import config as os_config

    region = os_config.OpenStackConfig(config_files=[clouds_yaml], load_envvars=False).get_one(
        cloud=cloud
    )
    return openstack.connection.Connection(config=region)


def _wait_until_alive(database_url: str, hosts: list[str], deadline: float) -> None:
    """Until the monitor has settled every host alive: a host already off when first seen is
    recorded, never reported, so the power cut must come after that."""
    from sqlalchemy import select

    from shared.db import session_scope
    from shared.models import HostMonitorState

    while time.monotonic() < deadline:
        with session_scope(database_url) as session:
            alive = set(
                session.scalars(
                    select(HostMonitorState.host_name).where(
                        HostMonitorState.settled_state == "alive"
                    )
                )
            )
        if alive >= set(hosts):
            return
        time.sleep(0.5)


def _recovered(server: dict, failed_host: str) -> bool:
    return server["host"] != failed_host and server["vm_state"] == "active"


def _server_stage(server: dict, failed_host: str) -> tuple[int, str]:
    """(percent, words) for one server's progress bar."""
    if _recovered(server, failed_host):
        return 100, f"active on {server['host']}"
    if server["host"] != failed_host or server.get("task_state") in (
        "rebuilding",
        "rebuild_spawning",
        "rebuild_block_device_mapping",
    ):
        return 60, f"evacuating ({server.get('task_state') or server['vm_state']})"
    if server.get("evacuations"):
        return 40, "evacuation accepted"
    return 0, f"{server['vm_state']} on {failed_host}"


class Watcher:
    """Polls the region and Vigil's API/database and turns changes into timeline lines."""

    def __init__(
        self,
        local: LocalVigil,
        conn,
        failed_host: str,
        failed_host_uuid: str,
        servers: dict[str, str],
        timeline: Timeline,
        time_scale: float = 1.0,
    ):
        self.local, self.conn, self.failed_host = local, conn, failed_host
        self.time_scale = time_scale
        self.failed_host_uuid = failed_host_uuid
        self.servers = servers  # id → name
        self.timeline = timeline
        self.notification: Any = None
        self.status: str | None = None
        self.fenced_seen: set[str] = set()
        self.messages_seen: set[tuple[str, str]] = set()
        self.done: set[str] = set()

    def poll(self) -> dict[str, dict]:
        region, host = self.local.simulated, self.failed_host
        states = {sid: region.server(sid) for sid in self.servers}
        self._notifications()
        self._fencing(region, host)
        self._workflow()
        for sid, server in states.items():
            if sid not in self.done and _recovered(server, host):
                self.done.add(sid)
                self.timeline.add(f"{self.servers[sid]} evacuated → active on {server['host']}")
        return states

    def phase(self, total: int) -> str:
        """One line saying what Vigil is doing now."""
        elapsed = self.timeline.since_zero()
        if self.notification is None:
            return f"{elapsed:5.1f}s  waiting for the monitor to notice {self.failed_host} is gone…"
        if len(self.done) < total:
            return f"{elapsed:5.1f}s  recovering: {len(self.done)}/{total} HA_Enabled servers running elsewhere"
        return f"{elapsed:5.1f}s  all {total} HA_Enabled servers running elsewhere; notification {self.status}"

    def _notifications(self) -> None:
        try:
            found = [
                n
                for n in self.conn.instance_ha.notifications()
                if n.type == "COMPUTE_HOST" and n.source_host_uuid == self.failed_host_uuid
            ]
        except Exception:  # noqa: BLE001 - the API being briefly busy only delays the next look
            return
        if not found:
            return
        notification = found[0]
        if self.notification is None:
            self.notification = notification
            payload = notification.payload or {}
            self.timeline.add(
                f"detected: monitor reported {payload.get('event', 'STOPPED')} for {self.failed_host} "
                f"(host_status {payload.get('host_status', '?')}), notification {notification.notification_uuid[:8]}"
            )
            took = self.timeline.since_zero() * self.time_scale
            nova = REGION_TIMING["service_down_time"]
            why = (
                "its Lease went late and the BMC proved it off, before Nova's "
                f"{nova} s service_down_time"
                if took < nova
                else f"Nova's {nova} s service_down_time ran out first"
            )
            self.timeline.add(
                f"detection took {took:.0f} cloud s: {why} (Masakari: hostmonitor every 60 s, "
                "then its engine waits 180 s)"
            )
        if notification.status != self.status:
            self.status = notification.status
            self.notification = notification
            self.timeline.add(f"notification {self.status}")

    def _fencing(self, region, host: str) -> None:
        service = region.service(host)
        if service.get("forced_down") and "forced" not in self.fenced_seen:
            self.fenced_seen.add("forced")
            self.timeline.add(f"fenced: nova-compute on {host} forced down (power-off verified)")
        if service.get("status") == "disabled" and "disabled" not in self.fenced_seen:
            self.fenced_seen.add("disabled")
            self.timeline.add(f"nova-compute on {host} disabled: {service.get('disabled_reason')}")
        taints = [t.get("key") for t in (region.node(host).get("taints") or [])]
        if "node.kubernetes.io/out-of-service" in taints and "taint" not in self.fenced_seen:
            self.fenced_seen.add("taint")
            self.timeline.add(f"node {host} tainted out-of-service")

    def _workflow(self) -> None:
        if self.notification is None:
            return
        from shared.db import session_scope
        from shared.progress import workflow_details

        try:
            with session_scope(self.local.database_url) as session:
                steps = workflow_details(session, self.notification.notification_uuid)
        except Exception:  # noqa: BLE001 - a busy database only delays the next look
            return
        for step in steps:
            for detail in step["progress_details"]:
                key = (step["name"], detail["message"])
                if key not in self.messages_seen:
                    self.messages_seen.add(key)
                    self.timeline.add(f"{step['name']}: {detail['message']}", detail=True)


def _summary(
    console,
    timeline: Timeline,
    watcher: Watcher | None,
    states: dict,
    servers: dict,
    failed: str,
    wall: float,
) -> bool:
    from rich.table import Table

    console.print()
    table = Table(title="Timeline (seconds after the power cut)", show_lines=False)
    table.add_column("t", justify="right")
    table.add_column("what happened")
    for index, (at, text) in enumerate(timeline.events):
        if index not in timeline.details:
            table.add_row(f"{at:6.1f}", text)
    console.print(table)
    recovered = [sid for sid, s in states.items() if _recovered(s, failed)]
    ok = len(recovered) == len(servers) and bool(servers)
    status = watcher.status if watcher else None
    console.print(
        f"[bold]{len(recovered)}/{len(servers)}[/] HA_Enabled servers recovered; notification status: "
        f"{status or 'none'}; demo wall time {wall:.0f} s."
    )
    for sid, name in servers.items():
        if sid not in recovered:
            state = states.get(sid, {})
            console.print(
                f"[red]not recovered[/]: {name} ({state.get('vm_state')} on {state.get('host')})"
            )
    console.print(
        "[bold green]Every HA_Enabled server was recovered.[/]"
        if ok
        else "[bold red]Not every HA_Enabled server was recovered.[/]"
    )
    return ok


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live

    from vigil.bars import RecoveryBars

    quiet_warnings()
    console = Console()
    wall_start = time.monotonic()
    timeline = Timeline()
    manifests = load_manifests()
    if args.hosts < 2 or args.servers < 1:
        print(
            "vigil demo: needs --hosts of at least 2 (one fails, one takes its servers) and --servers of at least 1",
            file=sys.stderr,
        )
        return 2
    try:
        overrides, env = fast_ticks(args.tick, manifests)
    except DevError as exc:
        print(f"vigil demo: {exc}", file=sys.stderr)
        return 2
    env.update(
        {
            # only HA_Enabled servers move, so the demo shows the metadata key doing its job
            "VIGIL_HOST_FAILURE__EVACUATE_ALL_INSTANCES": "false",
            "VIGIL_KUBERNETES__LEASE_GRACE_SECONDS": str(REGION_TIMING["node_monitor_grace"]),
        }
    )
    log_dir = Path(args.log_dir) if args.log_dir else None
    options = DevOptions(
        api_port=0,
        hosts=args.hosts,
        tick_overrides=overrides,
        env=env,
        log_dir=log_dir,
        use_env_database=False,
        region_options={"time_scale": args.time_scale, **REGION_TIMING},
    )
    logging.getLogger("vigil.wiring").setLevel(logging.ERROR)
    console.rule("[bold]Vigil demo[/]: a compute host loses power")
    local = LocalVigil(options, manifests)
    watcher = None
    states: dict[str, dict] = {}
    servers: dict[str, str] = {}
    plain: list[str] = []
    failed = ""
    try:
        with console.status(
            "starting PostgreSQL, the simulated region, the four functions, broker and ticks…"
        ):
            local.start()
        logs = f"logs in {log_dir}" if log_dir else "--log-dir DIR keeps the functions' logs"
        console.print(
            f"Vigil API at {local.api_url}; monitor tick every {args.tick}; simulated region runs "
            f"{args.time_scale:g}× real time; {logs}"
        )
        timeline.add("Vigil started")
        conn = _connect(local.simulated.clouds_yaml, local.simulated.cloud_name)

        computes = sorted(s.host for s in conn.compute.services(binary="nova-compute"))
        segment = conn.instance_ha.create_segment(
            name="demo-segment", recovery_method="auto", service_type="COMPUTE"
        )
        host_uuids = {}
        for host in computes:
            created = conn.instance_ha.create_host(
                segment.uuid, name=host, type="COMPUTE", control_attributes="SSH"
            )
            host_uuids[host] = created.uuid
        timeline.add(
            f"segment {segment.name} created with {len(computes)} hosts: {', '.join(computes)}"
        )
        console.print(
            f"segment [bold]{segment.name}[/] ({segment.uuid}) with hosts {', '.join(computes)}"
        )

        failed = computes[0]
        for i in range(args.servers):
            sid = local.simulated.boot_server(failed, name=f"ha-{i + 1}", metadata={HA_KEY: "True"})
            servers[sid] = f"ha-{i + 1}"
        for i in range(2):
            plain.append(local.simulated.boot_server(failed, name=f"plain-{i + 1}"))
        timeline.add(f"booted {args.servers} HA_Enabled servers and 2 plain ones on {failed}")
        console.print(
            f"booted {args.servers} HA_Enabled servers (and 2 without the key) on [bold]{failed}[/]"
        )

        warmup = 2 * go_duration_seconds(args.tick) + 1
        with console.status("letting the monitor see every host alive…"):
            time.sleep(warmup)
            _wait_until_alive(local.migrated_url, computes, time.monotonic() + args.timeout)

        local.simulated.power_off(failed)
        timeline.zero = time.monotonic()
        timeline.events = [
            (at - (timeline.zero - timeline.started), text) for at, text in timeline.events
        ]
        timeline.add(f"{failed} powered off")
        console.print(f"[bold red]{failed} powered off[/] — Vigil has to notice on its own")

        watcher = Watcher(
            local, conn, failed, host_uuids[failed], servers, timeline, args.time_scale
        )
        bars = RecoveryBars()
        for sid, name in servers.items():
            bars.show(sid, name, 0, "waiting")
        shown = 0
        all_back = 0.0
        deadline = time.monotonic() + args.timeout
        with Live(bars, console=console, refresh_per_second=8, transient=False) as live:
            while time.monotonic() < deadline:
                states = watcher.poll()
                bars.say(watcher.phase(len(servers)))
                for sid, state in states.items():
                    percent, words = _server_stage(state, failed)
                    bars.show(sid, servers[sid], percent, words)
                for at, text in timeline.events[shown:]:
                    live.console.print(f"[dim]{at:6.1f}s[/] {text}")
                shown = len(timeline.events)
                if len(watcher.done) == len(servers):
                    all_back = all_back or time.monotonic()
                    # servers are back; give the workflow a moment to record its end
                    if watcher.status == "finished" or time.monotonic() - all_back > 10:
                        break
                time.sleep(0.5)
        states = {sid: local.simulated.server(sid) for sid in servers}
        left = [sid for sid in plain if local.simulated.server(sid)["host"] == failed]
        timeline.add(
            f"{len(left)} of {len(plain)} servers without {HA_KEY} left on {failed} "
            "(evacuate_all_instances=false)"
        )
    except DevError as exc:
        print(f"vigil demo: {exc}", file=sys.stderr)
        return 2
    finally:
        with console.status("stopping…"):
            local.stop()
    ok = _summary(
        console, timeline, watcher, states, servers, failed, time.monotonic() - wall_start
    )
    return 0 if ok else 1


def register(sub, db_sub) -> None:
    demo = sub.add_parser(
        "demo",
        help="watch Vigil recover a powered-off host's servers (simulated region)",
        description=__doc__.split("\n\n")[1],
    )
    demo.add_argument(
        "--hosts", type=int, default=4, help="compute hosts in the simulated region (default 4)"
    )
    demo.add_argument(
        "--servers", type=int, default=6, help="HA_Enabled servers on the failing host (default 6)"
    )
    demo.add_argument(
        "--time-scale",
        type=float,
        default=10.0,
        help="simulated cloud seconds per real second (default 10)",
    )
    demo.add_argument("--tick", default="2s", help="monitor and sweep tick period (default 2s)")
    demo.add_argument(
        "--timeout", type=float, default=150.0, help="give up after this many seconds (default 150)"
    )
    demo.add_argument("--log-dir", help="keep the functions' logs here")
    demo.set_defaults(func=run)
