"""Evacuating a failed host's servers: a bounded pool, one server per worker (recovery.md §6.2).

The attempt's vmoves are the work list. A resume re-reads ``ongoing`` ones from Nova instead of
evacuating again, so a server already moved or still rebuilding is never evacuated twice
(§15.6). Workers stop taking new servers near the invocation's time budget; what is left
``pending`` is continued by the resumed attempt. Workers waiting on Nova share one
``ServerWatch``: one read per ``verify_interval`` answers for every server in flight, so the
polling load on nova-api does not grow with the number of workers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import exists, select, update

from shared import logs
from shared.db import rows_changed, session_scope, utcnow
from shared.models import VMove
from shared.recovery.context import HandOff, RecoveryContext
from shared.recovery.lifecycle import Lease, LeaseLost
from shared.recovery.nova import (
    Nova,
    NovaError,
    hypervisor,
    power_state,
    service_host,
    task_state,
    vm_state,
)

log = logging.getLogger(__name__)

SHUTDOWN = 4
TIMEOUT_MESSAGE = "Failed reason: timeout."
# Kept in the vmove while Vigil holds the server's lock, so a resumed attempt knows to unlock it.
LOCK_NOTE = "Locked by Vigil for evacuation"


class EvacuationFailed(RuntimeError):
    """Some servers of the attempt did not end on a healthy host."""


class EvacuationTimeout(RuntimeError):
    """The server was not confirmed on a healthy host within wait_period_after_evacuation."""


def _rebuilding(server: dict[str, Any]) -> bool:
    return str(task_state(server) or "").startswith("rebuild")


class ServerWatch:
    """The latest view of every server the attempt waits on, refreshed by shared reads.

    Each waiter is due a fresh view an interval after its last one. When one falls due, the
    waiters due within a quarter interval after it are gathered and one read serves them all:
    a ``GET /servers/{id}`` when one server is waited on, else one listing of the servers Nova
    changed since the oldest view held (``changes-since``). A server absent from that listing
    has not changed, so its view stands. Servers evacuated together are read together, so the
    cost is about one read per interval, while no server waits much longer than its own poll
    would have. A failed read is logged and the next interval tries again; each waiter keeps
    its own deadline.
    """

    def __init__(self, nova: Nova, interval: float, lease: Lease):
        self.nova = nova
        self.interval = interval
        self.gather = interval / 4
        self.lease = lease
        self._cond = threading.Condition()
        self._views: dict[str, dict[str, Any]] = {}
        self._due: dict[str, float] = {}
        self._reading = False

    def poll(
        self,
        server_id: str,
        view: dict[str, Any],
        seconds: float,
        done: Callable[[dict[str, Any]], bool],
    ) -> dict[str, Any]:
        """Wait until ``done(view)``; ``view`` is the worker's own latest read of the server."""
        deadline = time.monotonic() + seconds
        with self._cond:
            self._views[server_id] = view
            self._due[server_id] = time.monotonic() + self.interval
        try:
            while True:
                self.lease.check()
                with self._cond:
                    current = self._views[server_id]
                if done(current):
                    return current
                if time.monotonic() >= deadline:
                    raise EvacuationTimeout(server_id)
                self._await_read(server_id, deadline)
        finally:
            with self._cond:
                self._due.pop(server_id, None)
                self._views.pop(server_id, None)

    def _await_read(self, server_id: str, deadline: float) -> None:
        """Return once a read has served this server's due view, making it when it is time."""
        with self._cond:
            mine = self._due[server_id]
            while self._due.get(server_id) == mine:
                now = time.monotonic()
                if now >= deadline or self.lease.lost.is_set():
                    return
                if self._reading:
                    self._cond.wait(min(deadline, now + self.interval) - now)
                    continue
                earliest = min(self._due.values())
                start = max(d for d in self._due.values() if d <= earliest + self.gather)
                if now >= start:
                    self._reading = True
                    break
                self._cond.wait(min(deadline, start) - now)
            else:
                return
            began = time.monotonic()
            wanted = {i: self._views[i] for i in self._due}
            served = [i for i, due in self._due.items() if due <= began]
        fresh: dict[str, dict[str, Any]] = {}
        try:
            fresh = self._read(wanted)
        except NovaError as exc:
            log.info("polling %d servers failed (next interval tries again): %s", len(wanted), exc)
        finally:
            with self._cond:
                self._views.update({i: v for i, v in fresh.items() if i in self._due})
                for i in served:
                    if i in self._due:
                        self._due[i] = began + self.interval
                self._reading = False
                self._cond.notify_all()

    def _read(self, wanted: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if len(wanted) == 1:
            (server_id,) = wanted
            return {server_id: self.nova.server(server_id)}
        since = min(str(v.get("updated") or "") for v in wanted.values())
        if not since:  # a view without Nova's clock: read each one
            return {i: self.nova.server(i) for i in wanted}
        return {s["id"]: s for s in self.nova.servers_changed_since(since) if s["id"] in wanted}


def attempt_vmoves(notification_uuid: str, attempt: int) -> list[VMove]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(VMove)
                .where(VMove.notification_uuid == notification_uuid, VMove.attempt == attempt)
                .order_by(VMove.id)
            )
        )


def set_vmove(vmove_id: int, lease: Lease, **values: Any) -> None:
    """Write a vmove only while ``lease`` is still ours, so a worker that lost its claim (paused
    past its lease while another took over) can neither record nor start an evacuation."""
    values.setdefault("updated_at", utcnow())
    with session_scope() as session:
        written = rows_changed(
            session.execute(
                update(VMove)
                .where(VMove.id == vmove_id, exists().where(lease.holds()))
                .values(**values)
            )
        )
    if not written:
        lease.lost.set()
        raise LeaseLost(f"lease on {lease.notification_uuid} lost")


class ServerEvacuation:
    """One server: lock, normalise, evacuate, confirm, restore its state, unlock."""

    def __init__(
        self,
        ctx: RecoveryContext,
        vmove: VMove,
        failed_host: str,
        target: str | None,
        watch: ServerWatch,
        original: str | None = None,
    ):
        self.ctx = ctx
        self.original = original
        self.watch = watch
        self.nova = ctx.nova
        self.vmove = vmove
        self.server_id = vmove.instance_uuid
        self.failed_host = failed_host
        self.target = target
        self.locked_by_us = vmove.message == LOCK_NOTE

    def _poll(self, view: dict[str, Any], seconds: float, done) -> dict[str, Any]:
        return self.watch.poll(self.server_id, view, seconds, done)

    def run(self) -> None:
        try:
            server = self.nova.server(self.server_id)
            # An ongoing vmove (resume) or a server an earlier attempt already moved (retry) is
            # settled from what Nova says, never evacuated a second time.
            if (self.vmove.status == "ongoing" or self._moved(server)) and self._reconcile(server):
                return
            self._evacuate(server)
        except EvacuationTimeout:
            self._fail(TIMEOUT_MESSAGE)
        except LeaseLost:
            # The new owner finds the lock note in the vmove and unlocks when it is done.
            self.locked_by_us = False
            raise
        except Exception as exc:  # noqa: BLE001 - Nova's reply or any other failure goes into the vmove
            log.info("evacuation of %s failed: %s", self.server_id, exc)
            self._fail(str(exc))
        finally:
            if self.locked_by_us:
                try:
                    self.nova.action(self.server_id, {"unlock": None})
                except NovaError as exc:
                    log.warning("unlocking %s failed (ignored): %s", self.server_id, exc)

    def _fail(self, message: str) -> None:
        try:
            set_vmove(
                self.vmove.id, self.ctx.lease, status="failed", message=message, end_time=utcnow()
            )
        except LeaseLost:
            self.locked_by_us = False
            raise

    def _moved(self, server: dict[str, Any]) -> bool:
        host = service_host(server)
        return bool(host) and host != self.failed_host

    def _reconcile(self, server: dict[str, Any]) -> bool:
        """Resume of an ``ongoing`` vmove: settle it from what Nova says now. True when settled."""
        before = vm_state(server)
        original = self.original or before
        if self._moved(server) and task_state(server) is None:
            # Already off the failed host: settle it, never evacuate it a second time.
            if before == "error":
                if original != "error":
                    raise EvacuationFailed(
                        f"Server {self.server_id} is in error state on {service_host(server)} "
                        "after its evacuation"
                    )
                self._succeeded(server)  # an earlier restore already put it back into error
                return True
            self._restore(server, original, original != "active")
            return True
        if task_state(server) is not None:
            done = self._done_for(original, before)
            server = self._poll(server, self.ctx.settings.wait_period_after_evacuation, done)
            self._restore(server, original, original != "active")
            return True
        return False

    def _done_for(self, original: str | None, before: str | None):
        """Moved and settled in the state it had, active, or stopped (started again below);
        error it entered is a failure."""

        def done(server: dict[str, Any]) -> bool:
            state = vm_state(server)
            if task_state(server) is not None:
                return False
            moved = self._moved(server)
            if state == "error" and original != "error" and (before != "error" or moved):
                fault = (server.get("fault") or {}).get("message", "none reported")
                raise EvacuationFailed(
                    f"Server {self.server_id} went to error state during evacuation (fault: {fault})"
                )
            return moved and state in (original, "active", "stopped")

        return done

    def _evacuate(self, server: dict[str, Any]) -> None:
        settings = self.ctx.settings
        if not server.get("locked"):
            set_vmove(self.vmove.id, self.ctx.lease, message=LOCK_NOTE)
            self.locked_by_us = True
            self.nova.action(self.server_id, {"lock": None})
        before, task = vm_state(server), task_state(server)
        original = self.original or before
        if _rebuilding(server):  # an evacuation Nova already accepted: follow it, never repeat it
            set_vmove(self.vmove.id, self.ctx.lease, status="ongoing", start_time=utcnow())
            server = self._poll(
                server, settings.wait_period_after_evacuation, self._done_for(original, before)
            )
            self._restore(server, original, original != "active")
            return
        restore = original != "active"
        if before not in ("active", "error", "stopped"):
            self.nova.action(self.server_id, {"os-resetState": {"state": "error"}})
            before = "error"
            if original == "resized" and power_state(server) != SHUTDOWN:
                restore = False
        elif task is not None:
            self.nova.action(self.server_id, {"os-resetState": {"state": "error"}})
            if before == "active":
                restore = False
            before = "error"
        elif before == "stopped":
            restore = False
        set_vmove(self.vmove.id, self.ctx.lease, status="ongoing", start_time=utcnow())
        # A lost reply or a reset connection is read back, never taken for a failed move.
        self.nova.evacuate(self.server_id, self.target, self.failed_host, before)
        server = self._poll(
            server, settings.wait_period_after_evacuation, self._done_for(original, before)
        )
        self._restore(server, original, restore)

    def _restore(self, server: dict[str, Any], original: str | None, restore: bool) -> None:
        """Put the server back into the state it had (§6.2 step 5).

        A server that was active and landed stopped (Nova ≥ 2.95 semantics, or a guest that did
        not come up) is started: a stopped server on a healthy host recovers nothing.
        """
        settings = self.ctx.settings
        if original == "active" and vm_state(server) == "stopped":
            self.nova.act(
                self.server_id,
                {"os-start": None},
                lambda s: vm_state(s) == "active" or task_state(s) == "powering-on",
            )
            server = self._poll(
                server,
                settings.wait_period_after_power_on,
                lambda s: vm_state(s) == "active" and task_state(s) is None,
            )
        if restore:
            if vm_state(server) != "stopped":
                try:
                    self.nova.act(
                        self.server_id,
                        {"os-stop": None},
                        lambda s: vm_state(s) == "stopped" or task_state(s) == "powering-off",
                    )
                except NovaError as exc:
                    if exc.status != 409:
                        raise
                server = self._poll(
                    server,
                    settings.wait_period_after_power_off,
                    lambda s: vm_state(s) == "stopped" and task_state(s) is None,
                )
            if original == "error":
                self.nova.action(self.server_id, {"os-resetState": {"state": "error"}})
        self._succeeded(server)

    def _succeeded(self, server: dict[str, Any]) -> None:
        set_vmove(
            self.vmove.id,
            self.ctx.lease,
            status="succeeded",
            dest_host=hypervisor(server),
            message=None,
            end_time=utcnow(),
        )


def evacuate_attempt(
    ctx: RecoveryContext,
    failed_host: str,
    target: str | None,
    vm_states: dict[str, str],
    report: Callable[[str, float], None],
) -> None:
    """Work the attempt's vmoves with ``host_failure_recovery_threads`` workers.

    ``vm_states`` holds each server's state before the notification's first attempt.
    ``report`` writes Masakari's progress lines: a start line naming every server, one line per
    server as its worker takes it, then the list that moved (53 entries for 50 servers).
    """
    moves = attempt_vmoves(ctx.uuid, ctx.attempt)
    report(
        f"Start evacuation of instances from failed host '{failed_host}', instance uuids are: "
        f"'{','.join(v.instance_uuid for v in moves)}'",
        0.0,
    )
    todo = [v for v in moves if v.status in ("pending", "ongoing")]
    deferred: list[str] = []
    watch = ServerWatch(ctx.nova, ctx.settings.verify_interval, ctx.lease)

    def work(vmove: VMove) -> None:
        if ctx.lease.lost.is_set():
            return
        original = vm_states.get(vmove.instance_uuid)
        if vmove.status == "pending" and ctx.over_budget(restores=original not in (None, "active")):
            deferred.append(vmove.instance_uuid)
            return
        report(f"Evacuation of instance started: '{vmove.instance_uuid}'", 0.5)
        ServerEvacuation(ctx, vmove, failed_host, target, watch, original).run()

    threads = max(1, ctx.settings.host_failure_recovery_threads)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="evacuate") as pool:
        futures = [pool.submit(logs.carry(work), v) for v in todo]
        errors = [f.exception() for f in futures]
    ctx.lease.check()
    for error in errors:
        if error is not None and not isinstance(error, LeaseLost):
            raise error
    if deferred:
        raise HandOff(f"{len(deferred)} servers left for the resumed attempt")
    moves = attempt_vmoves(ctx.uuid, ctx.attempt)
    moved = sorted(v.instance_uuid for v in moves if v.status == "succeeded")
    if moved:
        report(
            f"Successfully evacuate instances '{','.join(moved)}' from host '{failed_host}'", 0.7
        )
    bad = [v for v in moves if v.status != "succeeded"]
    if bad:
        ids = ",".join(v.instance_uuid for v in bad)
        report(f"Failed to evacuate instances '{ids}' from host '{failed_host}'", 0.7)
        reasons = "; ".join(f"{v.instance_uuid}: {v.message or v.status}" for v in bad)
        raise EvacuationFailed(
            f"Failed to evacuate instances '{ids}' from host '{failed_host}'. {reasons}"
        )
