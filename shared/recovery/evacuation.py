"""Evacuating a failed host's servers: a bounded pool, one server per worker (recovery.md §6.2).

The attempt's vmoves are the work list. A resume re-reads ``ongoing`` ones from Nova instead of
evacuating again, so a server already moved or still rebuilding is never evacuated twice
(§15.6). Workers stop taking new servers near the invocation's time budget; what is left
``pending`` is continued by the resumed attempt.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import exists, select, update

from shared.db import rows_changed, session_scope, utcnow
from shared.models import VMove
from shared.recovery.context import HandOff, RecoveryContext
from shared.recovery.lifecycle import Lease, LeaseLost
from shared.recovery.nova import (
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
        original: str | None = None,
    ):
        self.ctx = ctx
        self.original = original
        self.nova = ctx.nova
        self.vmove = vmove
        self.server_id = vmove.instance_uuid
        self.failed_host = failed_host
        self.target = target
        self.locked_by_us = vmove.message == LOCK_NOTE

    def _poll(self, seconds: float, done) -> dict[str, Any]:
        return self.ctx.poll(
            seconds,
            lambda: self.nova.server(self.server_id),
            done,
            lambda: EvacuationTimeout(self.server_id),
        )

    def run(self) -> None:
        try:
            server = self.nova.server(self.server_id)
            if self.vmove.status == "ongoing" and self._reconcile(server):
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
            server = self._poll(self.ctx.settings.wait_period_after_evacuation, done)
            self._restore(server, original, original != "active")
            return True
        return False

    def _done_for(self, original: str | None, before: str | None):
        """Moved and back in the state the server had, or active; error it entered is a failure."""

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
            return moved and state in (original, "active")

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
                settings.wait_period_after_evacuation, self._done_for(original, before)
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
        body = {"host": self.target} if self.target else {}
        try:
            self.nova.action(self.server_id, {"evacuate": body})
        except NovaError as exc:
            # No answer (timeout, dropped connection): Nova may still have accepted it.
            if exc.status is not None or not _rebuilding(self.nova.server(self.server_id)):
                raise
        server = self._poll(settings.wait_period_after_evacuation, self._done_for(original, before))
        self._restore(server, original, restore)

    def _restore(self, server: dict[str, Any], original: str | None, restore: bool) -> None:
        """Put a server that was stopped or in error back that way (§6.2 step 5)."""
        settings = self.ctx.settings
        if restore:
            if vm_state(server) != "stopped":
                try:
                    self.nova.action(self.server_id, {"os-stop": None})
                except NovaError as exc:
                    if exc.status != 409:
                        raise
                server = self._poll(
                    settings.wait_period_after_power_off, lambda s: vm_state(s) == "stopped"
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
    ctx: RecoveryContext, failed_host: str, target: str | None, vm_states: dict[str, str]
) -> None:
    """Work the attempt's vmoves with ``host_failure_recovery_threads`` workers.

    ``vm_states`` holds each server's state before the notification's first attempt.
    """
    todo = [v for v in attempt_vmoves(ctx.uuid, ctx.attempt) if v.status in ("pending", "ongoing")]
    deferred: list[str] = []

    def work(vmove: VMove) -> None:
        if ctx.lease.lost.is_set():
            return
        original = vm_states.get(vmove.instance_uuid)
        if vmove.status == "pending" and ctx.over_budget(restores=original not in (None, "active")):
            deferred.append(vmove.instance_uuid)
            return
        ServerEvacuation(ctx, vmove, failed_host, target, original).run()

    threads = max(1, ctx.settings.host_failure_recovery_threads)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="evacuate") as pool:
        futures = [pool.submit(work, v) for v in todo]
        errors = [f.exception() for f in futures]
    ctx.lease.check()
    for error in errors:
        if error is not None and not isinstance(error, LeaseLost):
            raise error
    if deferred:
        raise HandOff(f"{len(deferred)} servers left for the resumed attempt")
    moves = attempt_vmoves(ctx.uuid, ctx.attempt)
    bad = [v for v in moves if v.status != "succeeded"]
    if bad:
        reasons = "; ".join(f"{v.instance_uuid}: {v.message or v.status}" for v in bad)
        raise EvacuationFailed(
            f"Failed to evacuate instances '{','.join(v.instance_uuid for v in bad)}' "
            f"from host '{failed_host}'. {reasons}"
        )
