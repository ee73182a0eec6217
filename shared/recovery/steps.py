"""Recovery steps: the base class, lookup by name through entry points, and running one.

Steps are found in the ``vigil.recovery_tasks`` entry-point group (recovery.md §12), so an
operator's package adds its own (an alert, a metering update) by declaring an entry point and
naming it in a ``VIGIL_TASKFLOW_DRIVER_RECOVERY_FLOWS__*`` list. Every step must be safe to run
again: a resume re-runs the step that was in flight.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from shared import logs
from shared.recovery.context import HandOff, RecoveryContext, Settled
from shared.recovery.lifecycle import LeaseLost
from shared.recovery.reporting import FAILURE, SUCCESS, StepProgress

log = logging.getLogger(__name__)

GROUP = "vigil.recovery_tasks"


class UnknownTask(LookupError):
    """A configured step name has no entry point."""


class Task:
    """One step. Subclasses set ``step_name`` and implement ``execute(**inputs)``.

    ``execute`` declares the flow inputs it needs as keyword parameters (``host_name``,
    ``notification_uuid``, ``instance_uuid``, ``reserved_host`` …) and may return a dict of
    outputs that later steps receive as inputs.
    """

    step_name = "Task"

    def __init__(self, ctx: RecoveryContext, progress: StepProgress):
        self.ctx = ctx
        self.progress = progress

    # Each step declares its own keyword parameters, so the base names only the call's shape.
    execute: Callable[..., dict[str, Any] | None]

    def report(self, message: str, progress: float | None = None) -> None:
        self.progress.report(message, progress)


class NoOpTask(Task):
    """Masakari's ``no_op``: a placeholder in a step list."""

    step_name = "Noop"

    def execute(self, **inputs: Any) -> None:
        return None


@cache
def load(name: str) -> type[Task]:
    found = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not found:
        raise UnknownTask(
            f"Recovery task '{name}' is not registered in entry point group '{GROUP}'"
        )
    task = found[0].load()
    if not (inspect.isclass(task) and issubclass(task, Task)):
        raise UnknownTask(f"Entry point '{name}' in '{GROUP}' is not a recovery Task class")
    return task


def wanted_inputs(task: type[Task]) -> set[str] | None:
    """Names ``execute`` asks for; None when it takes ``**inputs``."""
    params = inspect.signature(task.execute).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.name != "self"}


def run_step(ctx: RecoveryContext, name: str, inputs: dict[str, Any]) -> None:
    """Run one step under its progress row; outputs are merged into ``inputs``."""
    task = load(name)
    ctx.lease.check()
    run = ctx.runs[task.step_name]
    ctx.runs[task.step_name] += 1
    progress = StepProgress(ctx.uuid, ctx.attempt, task.step_name, run).open()
    if progress.done:
        inputs.update(progress.outputs)
        return
    wanted = wanted_inputs(task)
    args = inputs if wanted is None else {k: v for k, v in inputs.items() if k in wanted}
    try:
        with logs.bound(step=task.step_name):
            log.info("step started (attempt %d)", ctx.attempt)
            outputs = task(ctx, progress).execute(**args) or {}
            log.info("step done")
    except Settled:
        progress.close(SUCCESS)
        raise
    except (HandOff, LeaseLost):
        raise
    except Exception:
        progress.close(FAILURE)
        raise
    progress.close(SUCCESS, outputs)
    inputs.update(outputs)


def run_steps(ctx: RecoveryContext, names: list[str], inputs: dict[str, Any]) -> None:
    for name in names:
        run_step(ctx, name, inputs)
