"""The ``purge`` function: one purge run per daily PingSource tick (purge.md §5, events.md §5).

The tick's data is ignored: what to purge comes from the ``VIGIL_PURGE__*`` settings. A tick that
finds another run in progress ends at once with 2xx; so does a run refused for bad settings,
since redelivering the same tick cannot fix them. Database trouble raises, so Knative retries.
"""

from __future__ import annotations

import logging

import functions_framework
from cloudevents.http import CloudEvent

from shared import logs
from shared.locks import single_run
from shared.preflight import check_at_start
from shared.purge import PurgeArgumentError
from shared.purge import purge as run_purge
from shared.settings import get_settings

logs.setup("purge")
log = logging.getLogger("vigil.purge")

check_at_start("purge")  # refuse to serve with broken settings (shared/preflight.py)


@functions_framework.cloud_event
def purge(event: CloudEvent) -> None:
    settings = get_settings().purge
    with single_run("purge") as mine:
        if not mine:
            log.info("purge: tick %s ends: another purge run is in progress", event["id"])
            return
        try:
            report = run_purge(
                settings.age_in_days, settings.max_rows, time_limit=settings.time_limit
            )
        except PurgeArgumentError as exc:
            log.error("purge: refused by VIGIL_PURGE__* settings: %s", exc)
            return
    counts = " ".join(f"{table}={count}" for table, count in report.removed.items())
    log.info("purge: tick %s removed %s", event["id"], counts)
    log.info("purge: %s", report.summary())
