"""``vigil watch``: follow a recovery live, against any Vigil (or Masakari) endpoint.

Shows one progress bar per workflow step and per server move (vmove) of a notification, or of
every new/running/error notification of a segment, until each one ends. Authenticates with
clouds.yaml like the openstack CLI. Exit status: 0 every notification finished, 1 one failed,
3 one was ignored (and none failed), 4 --timeout passed first, 2 bad input (clouds.yaml,
endpoint, unknown notification or segment).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from vigil import cloudauth
from vigil.cloudauth import CloudError, InstanceHA

EXIT_FINISHED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_IGNORED, EXIT_TIMEOUT = 0, 1, 2, 3, 4
OUTCOMES = {"finished": EXIT_FINISHED, "failed": EXIT_FAILED, "ignored": EXIT_IGNORED}
ACTIVE = ("new", "running", "error")  # `error` is retried once by the sweep (recovery.md §9)
VMOVE_PERCENT = {"pending": 0, "ongoing": 50, "succeeded": 100, "failed": 100, "ignored": 100}


def _fault(reply) -> str:
    try:
        body = reply.json()
        return str(next(iter(body.values()))["message"])
    except (ValueError, StopIteration, KeyError, TypeError, AttributeError):
        return reply.text.strip().splitlines()[0] if reply.text.strip() else ""


def _read(api: InstanceHA, path: str, key: str, params: dict[str, Any] | None = None) -> Any:
    reply = api.get(path, params=params)
    if reply.status_code != 200:
        raise CloudError(f"GET {path} answered {reply.status_code}: {_fault(reply)}")
    return reply.json()[key]


def notification(api: InstanceHA, notification_id: str) -> dict[str, Any]:
    reply = api.get(f"/v1/notifications/{notification_id}")
    if reply.status_code == 404:
        raise CloudError(f"no notification {notification_id} at {api.root}")
    if reply.status_code != 200:
        raise CloudError(
            f"notification {notification_id}: {reply.status_code} {_fault(reply)}".strip()
        )
    return reply.json()["notification"]


def _segment_uuid(api: InstanceHA, segment: str) -> str:
    reply = api.get(f"/v1/segments/{segment}")
    if reply.status_code == 200:
        return reply.json()["segment"]["uuid"]
    named = [s for s in _read(api, "/v1/segments", "segments") if s["name"] == segment]
    if not named:
        raise CloudError(f"no segment {segment!r} at {api.root}")
    return named[0]["uuid"]


def targets(api: InstanceHA, args: argparse.Namespace) -> list[str]:
    """The notification uuids to follow."""
    if args.notification:
        return [notification(api, args.notification)["notification_uuid"]]
    segment = _segment_uuid(api, args.segment)
    found = []
    for status in ACTIVE:
        for row in _read(api, "/v1/notifications", "notifications", {"status": status}):
            if row["failover_segment_uuid"] == segment:
                found.append(row["notification_uuid"])
    return found


class Follower:
    """Reads the notifications and turns what changed into bars and printed lines."""

    def __init__(self, api: InstanceHA, uuids: list[str], bars, say) -> None:
        self.api, self.uuids, self.bars, self.say = api, uuids, bars, say
        self.status: dict[str, str] = {}
        self.messages: set[tuple[str, str, str]] = set()

    def poll(self) -> dict[str, str]:
        """One look at every notification; returns the statuses of those that ended."""
        ended = {}
        for uuid in self.uuids:
            row = notification(self.api, uuid)
            tag = uuid[:8]
            if self.status.get(uuid) != row["status"]:
                self.status[uuid] = row["status"]
                self.say(f"notification {tag} ({row['type']}): {row['status']}")
            for step in row.get("recovery_workflow_details") or []:
                words = step["state"]
                self.bars.show(
                    f"{uuid}:{step['name']}", f"{tag} {step['name']}", 100 * step["progress"], words
                )
                for detail in step["progress_details"]:
                    key = (uuid, step["name"], detail["message"])
                    if key not in self.messages:
                        self.messages.add(key)
                        self.say(f"{tag} {step['name']}: {detail['message']}")
            for move in _read(self.api, f"/v1/notifications/{uuid}/vmoves", "vmoves"):
                where = f"{move['source_host'] or '?'} → {move['dest_host'] or '?'}"
                self.bars.show(
                    f"{uuid}:vmove:{move['uuid']}",
                    f"{tag} {move['instance_name']}",
                    VMOVE_PERCENT.get(move["status"], 0),
                    f"{move['status']} {where}",
                )
            if row["status"] in OUTCOMES:
                ended[uuid] = row["status"]
        return ended


def outcome(ended: dict[str, str]) -> int:
    codes = set(OUTCOMES[s] for s in ended.values())
    for code in (EXIT_FAILED, EXIT_IGNORED):
        if code in codes:
            return code
    return EXIT_FINISHED


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live

    from vigil.bars import RecoveryBars
    from vigil.dev import quiet_warnings

    quiet_warnings()
    if bool(args.notification) == bool(args.segment):
        print("vigil watch: name one notification, or --segment NAME_OR_UUID", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        api = cloudauth.connect(args.os_cloud, args.endpoint)
        uuids = targets(api, args)
    except CloudError as exc:
        print(f"vigil watch: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    console = Console()
    if not uuids:
        console.print(f"no new, running or error notification in segment {args.segment}")
        return EXIT_FINISHED
    bars = RecoveryBars(label_width=40)
    deadline = time.monotonic() + args.timeout if args.timeout else None
    ended: dict[str, str] = {}
    with Live(bars, console=console, refresh_per_second=4, transient=False) as live:
        follower = Follower(api, uuids, bars, live.console.print)
        while True:
            try:
                ended = follower.poll()
            except CloudError as exc:  # a busy or restarting API only delays the next look
                live.console.print(f"[dim]{exc}; trying again[/]")
            bars.say(f"{len(ended)}/{len(uuids)} notification(s) ended")
            if len(ended) == len(uuids):
                break
            if deadline is not None and time.monotonic() >= deadline:
                live.console.print(f"gave up after {args.timeout:g} s; still {follower.status}")
                return EXIT_TIMEOUT
            time.sleep(args.interval)
    for uuid, status in ended.items():
        console.print(f"notification {uuid}: {status}")
    return outcome(ended)


def register(sub, db_sub) -> None:
    parser = sub.add_parser(
        "watch",
        help="follow a notification's recovery (or a segment's) with live progress bars",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument("notification", nargs="?", help="notification uuid")
    parser.add_argument("--segment", help="follow every new/running/error notification of it")
    cloudauth.add_arguments(parser)
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between looks (default 1)"
    )
    parser.add_argument(
        "--timeout", type=float, default=0, help="give up after this many seconds (default never)"
    )
    parser.set_defaults(func=run)
