"""CloudEvents Vigil publishes (events.md): the Masakari catalogue and the recovery trigger.

Events go to the sink in ``K_SINK`` (injected by a Knative SinkBinding) or ``VIGIL_SINK``, in
binary HTTP mode. Without a sink, catalogue events are dropped (as Masakari emits nothing
without a notification driver) and a recovery trigger raises ``PublishError`` so the caller
can leave the row for the retry sweep.

The api hands its events to one background sender after the transaction committed, so a
request never waits for the sink: a catalogue event is best effort (as Masakari's
notifications are), and a lost trigger leaves the notification ``new`` for the retry sweep.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import queue
import threading
import traceback
import uuid
from typing import Any

import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from shared.settings import get_settings

log = logging.getLogger(__name__)

SOURCES = {"api": "/vigil/api", "monitor": "/vigil/monitor", "recover": "/vigil/recover"}
PING_TYPE = "dev.knative.sources.ping"
TRIGGER_SUFFIX = "internal.recovery.requested"
MONITOR_GATE_SUFFIX = "monitor.gate"

# Events waiting for the background sender; past this a new one is dropped with a warning.
QUEUE_LIMIT = 10_000


class PublishError(RuntimeError):
    """The event could not be delivered to the sink."""


class _Http:
    """One keep-alive session for every event. ``requests`` consults the environment (proxies,
    netrc, CA bundle) on each request when ``trust_env`` is on; here that is read once per
    sink URL instead."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        )
        self._proxies: dict[str, dict[str, str]] = {}

    def post(self, url: str, headers: dict[str, str], body: bytes | None) -> requests.Response:
        proxies = self._proxies.get(url)
        if proxies is None:
            proxies = self._proxies[url] = requests.utils.get_environ_proxies(url)
        return self.session.post(
            url, headers=headers, data=body, timeout=get_settings().publish_timeout,
            proxies=proxies,
        )  # fmt: skip


_http = _Http()


def sink_url() -> str | None:
    return os.environ.get("K_SINK") or get_settings().sink


def event_type(suffix: str) -> str:
    """Full type for a catalogue suffix such as ``segment.create.start``."""
    return f"{get_settings().event_type_prefix}.{suffix}"


def recovery_trigger_type() -> str:
    return event_type(TRIGGER_SUFFIX)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def build(
    type_: str,
    source: str,
    subject: str | None,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
    priority: str | None = None,
) -> CloudEvent:
    attributes = {
        "type": type_,
        "source": SOURCES.get(source, source),
        "id": event_id or str(uuid.uuid4()),
        "time": dt.datetime.now(dt.UTC).isoformat(),
        "datacontenttype": "application/json",
    }
    if subject:
        attributes["subject"] = subject
    if priority:
        attributes["priority"] = priority
    return CloudEvent(attributes, _jsonable(data))


def send(event: CloudEvent, url: str | None = None) -> None:
    """POST one event in binary mode; raise PublishError on any failure."""
    url = url or sink_url()
    if not url:
        raise PublishError("no event sink configured (K_SINK or VIGIL_SINK)")
    headers, body = to_binary(event)
    try:
        response = _http.post(url, headers, body)
    except requests.RequestException as exc:
        raise PublishError(f"event sink {url} unreachable: {exc}") from exc
    if response.status_code >= 300:
        raise PublishError(f"event sink {url} answered {response.status_code}")


class _Sender:
    """One daemon thread sending queued events in order, with the module's one session."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[CloudEvent, str, str]] = queue.Queue(QUEUE_LIMIT)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def put(self, event: CloudEvent, url: str, lost: str) -> None:
        """Queue ``event``; ``lost`` is logged if it cannot be delivered."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="vigil-events", daemon=True)
                self._thread.start()
        try:
            self._queue.put_nowait((event, url, lost))
        except queue.Full:
            log.warning("event queue full (%d): %s", QUEUE_LIMIT, lost)

    def _run(self) -> None:
        while True:
            event, url, lost = self._queue.get()
            try:
                send(event, url)
            except PublishError as exc:
                log.warning("%s: %s", lost, exc)
            finally:
                self._queue.task_done()

    def flush(self, timeout: float) -> bool:
        """Wait until every queued event was sent or given up; False on timeout."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)


_sender = _Sender()


def flush(timeout: float | None = None) -> bool:
    """Deliver what the background sender holds (at exit, and for callers that must know)."""
    if timeout is None:
        timeout = get_settings().publish_timeout * 2
    return _sender.flush(timeout)


atexit.register(flush)


def trigger_event(
    notification_uuid: str, notification_type: str, reason: str, source: str
) -> CloudEvent:
    return build(
        recovery_trigger_type(),
        source,
        notification_uuid,
        {"notification_uuid": notification_uuid, "type": notification_type, "reason": reason},
        event_id=notification_uuid if reason == "created" else None,
    )


def publish_recovery_trigger(
    notification_uuid: str, notification_type: str, reason: str, source: str
) -> None:
    """The wake-up call for ``recover`` (events.md §4). Raises PublishError."""
    send(trigger_event(notification_uuid, notification_type, reason, source))


def publish_recovery_trigger_later(
    notification_uuid: str, notification_type: str, reason: str, source: str
) -> None:
    """The trigger through the background sender: a lost one is the retry sweep's (§9)."""
    url = sink_url()
    lost = (
        f"recovery trigger for notification {notification_uuid} not published "
        "(the retry sweep will)"
    )
    if not url:
        log.warning("%s: no event sink configured (K_SINK or VIGIL_SINK)", lost)
        return
    _sender.put(trigger_event(notification_uuid, notification_type, reason, source), url, lost)


def fault_payload(exc: BaseException) -> dict[str, Any]:
    """Masakari's ExceptionPayload fields for an ``*.error`` event."""
    tb = traceback.extract_tb(exc.__traceback__)
    frame = tb[-1] if tb else None
    return {
        "module_name": type(exc).__module__,
        "function_name": frame.name if frame else None,
        "exception": type(exc).__name__,
        "exception_message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


def catalogue_event(
    suffix: str,
    source: str,
    subject: str | None,
    data: dict[str, Any],
    *,
    fault: BaseException | None = None,
) -> CloudEvent:
    """A catalogue event (events.md §3) stamped now, for sending now or later."""
    payload = dict(data)
    payload["fault"] = fault_payload(fault) if fault is not None else None
    return build(
        event_type(suffix), source, subject, payload, priority="ERROR" if fault else "INFO"
    )


def emit(
    suffix: str,
    source: str,
    subject: str | None,
    data: dict[str, Any],
    *,
    fault: BaseException | None = None,
) -> None:
    """Send a catalogue event now; never raises, never changes the caller's outcome."""
    url = sink_url()
    if not url:
        return
    try:
        send(catalogue_event(suffix, source, subject, data, fault=fault), url)
    except PublishError as exc:
        log.warning("catalogue event %s for %s not delivered: %s", suffix, subject, exc)


def emit_later(*events: CloudEvent) -> None:
    """Queue catalogue events for the background sender, in order (after a commit)."""
    url = sink_url()
    if not url:
        return
    for event in events:
        _sender.put(event, url, f"catalogue event {event['type']} not delivered")
