"""Which workflow a notification gets, and the attempts each recovery method makes.

Returns ``(status, message)`` for the attempt's final write; a workflow failure raises
``WorkflowError`` carrying the message (recovery.md §4-§8, §6.3, §15.6-15.8).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from shared.db import session_scope, utcnow
from shared.models import RecoveryAttempt
from shared.recovery import hosts
from shared.recovery.context import HandOff, RecoveryContext, Settled
from shared.recovery.evacuation import EvacuationFailed, attempt_vmoves, set_vmove
from shared.recovery.lifecycle import LeaseLost
from shared.recovery.reporting import pre_steps_ran, revert_attempt
from shared.recovery.steps import load, run_step, run_steps, wanted_inputs

log = logging.getLogger(__name__)

FINISHED = "finished"
NO_RESERVED_HOST = "No reserved_hosts available for evacuation."
PHASES = {
    "auto": ("auto",),
    "reserved_host": ("reserved_host",),
    "auto_priority": ("auto", "reserved_host"),
    "rh_priority": ("reserved_host", "auto"),
}
RECOVERABLE_VM_EVENTS = {
    ("LIFECYCLE", "STOPPED_FAILED"),
    ("QEMU_GUEST_AGENT_ERROR", "STOPPED_FAILED"),
    ("IO_ERROR", "IO_ERROR_REPORT"),
}


class WorkflowError(RuntimeError):
    """The attempt ends ``error`` (or ``failed`` after a retry) with this message."""


class NoReservedHost(WorkflowError):
    def __init__(self) -> None:
        super().__init__(NO_RESERVED_HOST)


def run(ctx: RecoveryContext) -> tuple[str, str | None]:
    kind = ctx.claim.type
    if kind == "COMPUTE_HOST":
        return _compute_host(ctx)
    if kind == "VM":
        return _vm(ctx)
    if kind == "PROCESS":
        return _process(ctx)
    return "ignored", f"Notification type '{kind}' is not recoverable"


# COMPUTE_HOST -------------------------------------------------------------------------------


def _compute_host(ctx: RecoveryContext) -> tuple[str, str | None]:
    payload = ctx.claim.payload
    host_status, event = payload.get("host_status"), payload.get("event")
    if host_status is None:
        return "ignored", "Notification ignored: the payload has no host_status"
    if str(host_status).upper() != "NORMAL":
        return "ignored", (
            f"Notification ignored: host_status is '{host_status}'; only a NORMAL (fenced) "
            "host is recovered"
        )
    if event == "STARTED":
        return FINISHED, None
    if event != "STOPPED":
        return "ignored", f"Notification ignored: unknown event '{event}'"
    hosts.mark_on_maintenance(ctx.claim.source_host_uuid, clear_reserved=True)
    return HostRecovery(ctx).run()


class HostRecovery:
    """The segment's recovery method as a sequence of phases, each made of attempts."""

    def __init__(self, ctx: RecoveryContext):
        self.ctx = ctx
        self.host_name = ctx.claim.host.get("name")
        self.segment_uuid = ctx.claim.segment_uuid
        method = ctx.claim.segment.get("recovery_method", "auto")
        self.phases = PHASES.get(method, PHASES["auto"])
        flows = ctx.settings.taskflow_driver_recovery_flows
        self.auto_tasks = flows.host_auto_failure_recovery_tasks
        self.rh_tasks = flows.host_rh_failure_recovery_tasks

    def _inputs(self) -> dict[str, Any]:
        return {"host_name": self.host_name, "notification_uuid": self.ctx.uuid}

    def run(self) -> tuple[str, str | None]:
        start, resume = 0, None
        if self.ctx.claim.reason == "resume":
            current = self.ctx.current_attempt()
            if current is not None:
                if current.outcome in ("succeeded", "nothing"):
                    return FINISHED, None
                kind = "reserved_host" if current.kind == "reserved_host" else "auto"
                start = self.phases.index(kind) if kind in self.phases else 0
                resume = current
                if current.outcome == "failed" and kind == "auto":
                    start, resume = start + 1, None
        errors: list[str] = []
        for phase in self.phases[start:]:
            try:
                if phase == "auto":
                    self._auto(resume)
                else:
                    self._reserved(resume)
                return FINISHED, None
            except Settled as settled:
                return settled.status, settled.message
            except (HandOff, LeaseLost):
                raise
            except WorkflowError as exc:
                errors.append(str(exc))
            except EvacuationFailed as exc:
                errors.append(str(exc))
            except Exception as exc:
                log.exception("host failure flow for %s failed", self.ctx.uuid)
                errors.append(
                    f"Failed to execute host failure flow for notification '{self.ctx.uuid}'. {exc}"
                )
            resume = None
        raise WorkflowError(
            " Fallback: ".join(errors)
            or f"Failed to execute host failure flow for notification '{self.ctx.uuid}'."
        )

    def _attempt(self, kind: str, resume) -> bool:
        """Enter the resumed attempt or begin a new one; True when it is a resume."""
        if resume is not None and resume.outcome is None:
            self.ctx.enter_attempt(resume.number)
            return True
        self.ctx.begin_attempt(kind)
        return False

    def _fail_attempt(self) -> None:
        self.ctx.end_attempt("failed")
        revert_attempt(self.ctx.uuid, self.ctx.attempt)

    def _auto(self, resume) -> None:
        self._attempt("auto", resume)
        try:
            inputs = self._inputs()
            for stage in ("pre", "main", "post"):
                run_steps(self.ctx, self.auto_tasks.get(stage, []), inputs)
        except Settled:
            self.ctx.end_attempt("nothing")
            raise
        except (HandOff, LeaseLost):
            raise
        except Exception:
            self._fail_attempt()
            raise
        self.ctx.end_attempt("succeeded")

    def _reserved(self, resume) -> None:
        first = True
        if resume is not None:
            if resume.outcome is None:
                first = pre_steps_ran(self.ctx.uuid, resume.number, self._pre_step_names()) or not (
                    self._earlier_reserved_attempt(resume.number)
                )
            else:  # the resumed attempt failed before its owner died: next reserved host
                first, resume = False, None
        if resume is None and not hosts.any_reserved_host(self.segment_uuid):
            raise NoReservedHost()
        previous: Exception | None = None
        while True:
            resumed = self._attempt("reserved_host", resume)
            resume = None
            stage = "pre"
            try:
                inputs = self._inputs()
                if resumed:
                    claimed = self.ctx.attempt_row()
                    if claimed is not None and claimed.reserved_host_name:
                        inputs["reserved_host"] = claimed.reserved_host_name
                if first:
                    run_steps(self.ctx, self.rh_tasks.get("pre", []), inputs)
                stage = "main"
                for name in self.rh_tasks.get("main", []) + self.rh_tasks.get("post", []):
                    if "reserved_host" not in inputs and _needs_reserved_host(name):
                        inputs["reserved_host"] = self._claim()
                    run_step(self.ctx, name, inputs)
            except Settled:
                self.ctx.end_attempt("nothing")
                raise
            except (HandOff, LeaseLost):
                raise
            except NoReservedHost as exc:  # lost a race for the last reserved host
                self._abandon_pending(exc)
                self._fail_attempt()
                if previous is not None:
                    raise previous from exc
                raise
            except Exception as exc:
                self._fail_attempt()
                # A failed pre step (disable) ends the sequence; a failed reserved host makes
                # way for the next one, as long as one is left.
                if stage == "pre" or not hosts.any_reserved_host(self.segment_uuid):
                    raise
                previous, first = exc, False
                continue
            self.ctx.end_attempt("succeeded")
            return

    def _pre_step_names(self) -> list[str]:
        return [load(name).step_name for name in self.rh_tasks.get("pre", [])]

    def _earlier_reserved_attempt(self, number: int) -> bool:
        with session_scope() as session:
            kind = session.scalar(
                select(RecoveryAttempt.kind).where(
                    RecoveryAttempt.notification_uuid == self.ctx.uuid,
                    RecoveryAttempt.number == number - 1,
                )
            )
        return kind == "reserved_host"

    def _claim(self) -> str:
        host = hosts.claim_reserved_host(self.segment_uuid, self.ctx.record_reserved_host)
        if host is None:
            raise NoReservedHost()
        return host["name"]

    def _abandon_pending(self, exc: Exception) -> None:
        """A work list no reserved host will take: its vmoves fail with the reason."""
        for vmove in attempt_vmoves(self.ctx.uuid, self.ctx.attempt):
            if vmove.status == "pending":
                set_vmove(
                    vmove.id, self.ctx.lease, status="failed", message=str(exc), end_time=utcnow()
                )


def _needs_reserved_host(name: str) -> bool:
    wanted = wanted_inputs(load(name))
    return wanted is not None and "reserved_host" in wanted


# VM -----------------------------------------------------------------------------------------


def _single_attempt(
    ctx: RecoveryContext, kind: str, tasks: dict[str, list[str]], inputs: dict
) -> tuple[str, str | None]:
    current = ctx.current_attempt() if ctx.claim.reason == "resume" else None
    # A worker can stop after its attempt ended but before the final write: a resume then
    # reports that outcome instead of stopping and starting a recovered server again.
    if current is not None and current.outcome == "succeeded":
        return FINISHED, None
    if current is not None and current.outcome == "failed":
        raise WorkflowError(
            f"attempt {current.number} had failed before this worker took over (see its steps)"
        )
    if current is not None and current.outcome is None:
        ctx.enter_attempt(current.number)
    else:
        ctx.begin_attempt(kind)
    try:
        for stage in ("pre", "main", "post"):
            run_steps(ctx, tasks.get(stage, []), inputs)
    except Settled as settled:
        ctx.end_attempt("nothing")
        return settled.status, settled.message
    except (HandOff, LeaseLost):
        raise
    except Exception as exc:
        ctx.end_attempt("failed")
        revert_attempt(ctx.uuid, ctx.attempt)
        raise WorkflowError(str(exc)) from exc
    ctx.end_attempt("succeeded")
    return FINISHED, None


def _vm(ctx: RecoveryContext) -> tuple[str, str | None]:
    payload = ctx.claim.payload
    event, domain_event = payload.get("event"), payload.get("vir_domain_event")
    if (event, domain_event) not in RECOVERABLE_VM_EVENTS:
        return "ignored", (
            f"Notification ignored: event '{event}' with vir_domain_event '{domain_event}' "
            "is not recoverable"
        )
    inputs = {"instance_uuid": payload.get("instance_uuid"), "notification_uuid": ctx.uuid}
    tasks = ctx.settings.taskflow_driver_recovery_flows.instance_failure_recovery_tasks
    return _single_attempt(ctx, "instance", tasks, inputs)


# PROCESS ------------------------------------------------------------------------------------


def _process(ctx: RecoveryContext) -> tuple[str, str | None]:
    payload = ctx.claim.payload
    event, process_name = payload.get("event"), payload.get("process_name")
    if event == "STARTED":
        return FINISHED, None
    if event != "STOPPED":
        return "ignored", f"Notification ignored: unknown event '{event}'"
    hosts.mark_on_maintenance(ctx.claim.source_host_uuid, clear_reserved=False)
    if process_name != "nova-compute":
        return FINISHED, None
    inputs = {
        "process_name": process_name,
        "host_name": ctx.claim.host.get("name"),
        "notification_uuid": ctx.uuid,
    }
    tasks = ctx.settings.taskflow_driver_recovery_flows.process_failure_recovery_tasks
    return _single_attempt(ctx, "process", tasks, inputs)
