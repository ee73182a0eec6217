"""The ``monitor`` function: one monitoring cycle per PingSource tick (monitoring.md §1)."""

from __future__ import annotations

import json
import logging

import functions_framework
from sqlalchemy.exc import DBAPIError

from shared import logs
from shared.events import PING_TYPE
from shared.health.cycle import run_tick
from shared.health.matrix import MatrixError, load_matrix
from shared.preflight import check_at_start
from shared.settings import get_settings

logs.setup("monitor")
log = logging.getLogger("vigil.monitor")

check_at_start("monitor", needs_fencing=True)  # broken settings or no fencing choice: refuse

WAKE_TYPES = (PING_TYPE, "dev.knative.apiserver.resource.")

try:  # reject a bad matrix at start, loudly; cycles keep running without probe verdicts
    load_matrix(get_settings().consul.matrix_config_file)
except MatrixError as exc:
    log.error("HA-strategy matrix rejected at start, no probe-based verdicts: %s", exc)


@functions_framework.cloud_event
def monitor(cloud_event):
    """Run a cycle on a tick (the event's data is not trusted or needed); ignore other events."""
    event_type = cloud_event["type"]
    if not event_type.startswith(WAKE_TYPES):
        log.warning(
            "ignoring event %s of type %s: not a monitor tick", cloud_event["id"], event_type
        )
        return
    try:
        outcome = run_tick()
    except DBAPIError:
        raise  # the database is unreachable: a redelivered tick can succeed
    except Exception:
        # A retry would fail the same way; answer 2xx and let the next tick try afresh.
        log.exception("monitor tick %s failed; the next tick tries again", cloud_event["id"])
        return
    log.info("monitor tick %s: %s", cloud_event["id"], json.dumps(outcome, default=str))
