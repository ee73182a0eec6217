"""Local wiring read from infra/knative/: the same Broker, Triggers, PingSources and SinkBinding.

``vigil dev`` must wire the four functions exactly as Knative does in a cluster, from the one
description operators apply. This module reads the kustomization and gives:

* ``Manifests``: the objects, with the questions both the deploy tests and the local runner ask
  (which Service runs which function, where a Destination points, what a delivery spec means);
* ``Router``: a local broker ingress (``K_SINK`` for the functions) that fans each event out to
  the subscribers of matching Triggers, with the Triggers' retry, back-off and dead-letter sink;
* ``Scheduler``: sends each PingSource's ``dev.knative.sources.ping`` event on its schedule.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
import yaml
from cloudevents.conversion import to_binary
from cloudevents.exceptions import GenericException
from cloudevents.http import CloudEvent, from_http
from croniter import croniter
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "infra" / "knative"
PING_TYPE = "dev.knative.sources.ping"
# Knative's dispatcher retries these statuses (and network errors); other failures go straight
# to the dead-letter sink.
RETRYABLE_STATUS = {404, 408, 409, 429}
ERROR_BODY_LIMIT = 1024


class WiringError(ValueError):
    """A manifest the local wiring cannot follow; the message names the object and field."""


# --- reading the kustomization ---------------------------------------------------------------


@dataclass
class Manifests:
    """Every object a kustomization renders (resources, then components), in file order."""

    docs: list[dict[str, Any]]
    files: list[Path] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d.get("kind") == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        for doc in self.of_kind(kind):
            if doc["metadata"]["name"] == name:
                return doc
        raise WiringError(f"no {kind} named {name!r} in the manifests")

    def services(self) -> list[dict[str, Any]]:
        return [
            d
            for d in self.of_kind("Service")
            if d.get("apiVersion", "").startswith("serving.knative.dev/")
        ]

    def service_names(self) -> set[str]:
        return {s["metadata"]["name"] for s in self.services()}

    def config_env(self, name: str = "vigil-config") -> dict[str, str]:
        """The settings ConfigMap every function loads with ``envFrom``."""
        return {k: str(v) for k, v in (self.get("ConfigMap", name).get("data") or {}).items()}

    def sink_bound(self) -> dict[str, dict[str, Any]]:
        """Service name → the sink Destination a SinkBinding injects into it as ``K_SINK``."""
        bound: dict[str, dict[str, Any]] = {}
        for binding in self.of_kind("SinkBinding"):
            subject = binding["spec"]["subject"]
            for service in self.services():
                if subject_matches(subject, service):
                    bound[service["metadata"]["name"]] = binding["spec"]["sink"]
        return bound


def subject_matches(subject: dict[str, Any], obj: dict[str, Any]) -> bool:
    if subject.get("kind") != obj.get("kind") or subject.get("apiVersion") != obj.get("apiVersion"):
        return False
    if "name" in subject:
        return subject["name"] == obj["metadata"]["name"]
    selector = subject.get("selector") or {}
    labels = obj["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _kustomization_files(folder: Path, components: Iterable[str]) -> list[Path]:
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    files: list[Path] = []
    for entry in kustomization.get("resources") or []:
        path = folder / entry
        files.extend(_kustomization_files(path, ()) if path.is_dir() else [path])
    for entry in [*(kustomization.get("components") or []), *components]:
        files.extend(_kustomization_files(folder / entry, ()))
    return files


def _kustomizations(folder: Path, components: Iterable[str]) -> list[tuple[Path, dict]]:
    """The kustomization and every component it (or the caller) enables, outermost first."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    found = [(folder, kustomization)]
    for entry in kustomization.get("resources") or []:
        if (folder / entry).is_dir():
            found += _kustomizations(folder / entry, ())
    for entry in [*(kustomization.get("components") or []), *components]:
        found += _kustomizations((folder / entry).resolve(), ())
    return found


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """A strategic-merge patch of maps (what Vigil's component patches need)."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]


def _image_name(ref: str) -> str:
    """``registry/name`` of ``registry/name:tag@sha256:…`` (a port's colon is not a tag)."""
    name = ref.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':')[0]}" if head else last.split(":")[0]


def _set_images(docs: list[dict[str, Any]], images: list[dict[str, Any]]) -> None:
    """kustomize's ``images:``: a container image named ``name`` gets ``newName`` and a
    ``digest`` (``name@sha256:…``) or ``newTag``."""
    for image in images:
        for doc in docs:
            for container in _containers(doc):
                if _image_name(str(container.get("image", ""))) != image["name"]:
                    continue
                name = image.get("newName", image["name"])
                if image.get("digest"):
                    container["image"] = f"{name}@{image['digest']}"
                elif image.get("newTag"):
                    container["image"] = f"{name}:{image['newTag']}"
                else:
                    container["image"] = name


def _generated_secrets(kustomization: dict[str, Any]) -> list[dict[str, Any]]:
    """The Secrets a ``secretGenerator`` makes, keys only: the files it reads stay out of git."""
    secrets = []
    for generator in kustomization.get("secretGenerator") or []:
        keys = [str(f).split("=", 1)[0].rsplit("/", 1)[-1] for f in generator.get("files") or []]
        keys += [str(literal).split("=", 1)[0] for literal in generator.get("literals") or []]
        secrets.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": generator.get("type", "Opaque"),
                "metadata": {
                    "name": generator["name"],
                    "namespace": kustomization.get("namespace", "default"),
                },
                "data": dict.fromkeys(keys, ""),
            }
        )
    return secrets


def load_manifests(folder: Path = MANIFESTS, components: Iterable[str] = ()) -> Manifests:
    """Read a kustomization as ``kubectl kustomize`` would: resources, components, generated
    Secrets, patches, images and labels."""
    kustomizations = _kustomizations(folder, components)
    files = _kustomization_files(folder, components)
    docs = []
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append(doc)
    for _, kustomization in kustomizations:
        docs.extend(_generated_secrets(kustomization))
    for where, kustomization in kustomizations:
        for entry in kustomization.get("patches") or []:
            patch = yaml.safe_load((where / entry["path"]).read_text())
            for doc in docs:
                if (doc.get("kind"), doc["metadata"].get("name")) == (
                    patch.get("kind"),
                    patch["metadata"].get("name"),
                ):
                    _merge(doc, patch)
    for _, kustomization in kustomizations:
        _set_images(docs, kustomization.get("images") or [])
    for entry in kustomizations[0][1].get("labels") or []:
        for doc in docs:
            doc["metadata"].setdefault("labels", {}).update(entry.get("pairs") or {})
    return Manifests(docs, files)


# --- values Knative's webhooks check and the CRD schemas leave open -------------------------

_ISO_DURATION = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def iso_duration_seconds(value: str) -> float:
    """Seconds in an ISO 8601 duration such as ``PT1S`` or ``PT0.5S`` (delivery backoffDelay)."""
    match = _ISO_DURATION.match(str(value))
    if not match:
        raise WiringError(f"{value!r} is not an ISO 8601 duration (e.g. PT1S)")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return (
        parts.get("weeks", 0) * 7 * 86400
        + parts.get("days", 0) * 86400
        + parts.get("hours", 0) * 3600
        + parts.get("minutes", 0) * 60
        + parts.get("seconds", 0)
    )


def go_duration_seconds(value: str) -> float:
    """Seconds in a Go duration (``@every 1m30s``), the only form ``@every`` accepts."""
    value = value.strip()
    if not value or _GO_DURATION.sub("", value) != "":
        raise WiringError(f"{value!r} is not a duration such as 30s or 1m30s")
    return sum(float(n) * _GO_UNITS[u] for n, u in _GO_DURATION.findall(value))


@dataclass(frozen=True)
class Schedule:
    """A PingSource schedule: 5-field cron, Quartz-style 6 fields (seconds first), a
    descriptor (``@daily``) or ``@every <duration>``, with an optional ``CRON_TZ=`` prefix."""

    expression: str
    timezone: str = "UTC"
    every: float | None = None

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first fire time strictly after ``moment`` (an aware datetime)."""
        if self.every is not None:
            return moment + dt.timedelta(seconds=self.every)
        local = moment.astimezone(ZoneInfo(self.timezone))
        fields = self.expression.split()
        itr = croniter(self.expression, local, second_at_beginning=len(fields) == 6)
        return itr.get_next(dt.datetime).astimezone(dt.UTC)


def parse_schedule(expression: str, timezone: str | None = None) -> Schedule:
    """Validate a schedule as Knative's PingSource webhook would; raise WiringError if not."""
    text = str(expression).strip()
    tz = timezone or "UTC"
    prefix = re.match(r"^(?:CRON_TZ|TZ)=(\S+)\s+", text)
    if prefix:
        if timezone:
            raise WiringError("give the time zone either in spec.timezone or as CRON_TZ=, not both")
        tz, text = prefix.group(1), text[prefix.end() :]
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise WiringError(f"unknown time zone {tz!r}") from exc
    if text.startswith("@every"):
        seconds = go_duration_seconds(text[len("@every") :])
        if seconds <= 0:
            raise WiringError(f"{expression!r}: @every needs a positive duration")
        return Schedule(text, tz, every=seconds)
    text = _DESCRIPTORS.get(text, text)
    fields = text.split()
    if len(fields) not in (5, 6):
        raise WiringError(
            f"{expression!r} is not a schedule: use 5 cron fields, 6 with seconds first, or @every"
        )
    if not croniter.is_valid(text, second_at_beginning=len(fields) == 6):
        raise WiringError(f"{expression!r} is not a valid cron schedule")
    return Schedule(text, tz)


@dataclass(frozen=True)
class Delivery:
    """A Trigger's (or its Broker's) ``spec.delivery``, as the dispatcher applies it."""

    retry: int = 0
    backoff_policy: str = "exponential"
    backoff_delay: float = 0.0
    dead_letter_sink: dict[str, Any] | None = None
    timeout: float | None = None  # seconds per delivery attempt (``delivery.timeout``)

    def delay_before(self, retry_number: int) -> float:
        """Wait before retry ``retry_number`` (1-based): delay × 2^n, or delay × n if linear."""
        if self.backoff_policy == "linear":
            return self.backoff_delay * retry_number
        return self.backoff_delay * (2**retry_number)


def parse_delivery(spec: dict[str, Any] | None) -> Delivery:
    spec = spec or {}
    unknown = set(spec) - {
        "retry",
        "backoffPolicy",
        "backoffDelay",
        "deadLetterSink",
        "timeout",
        "retryAfterMax",
        "format",
    }
    if unknown:
        raise WiringError(f"unknown delivery field(s): {', '.join(sorted(unknown))}")
    retry = spec.get("retry", 0)
    if not isinstance(retry, int) or retry < 0:
        raise WiringError(f"delivery.retry must be a non-negative integer, not {retry!r}")
    policy = spec.get("backoffPolicy", "exponential")
    if policy not in ("linear", "exponential"):
        raise WiringError(f"delivery.backoffPolicy must be linear or exponential, not {policy!r}")
    delay = iso_duration_seconds(spec["backoffDelay"]) if "backoffDelay" in spec else 0.0
    timeout = iso_duration_seconds(spec["timeout"]) if "timeout" in spec else None
    return Delivery(retry, policy, delay, spec.get("deadLetterSink"), timeout)


# --- the functions: what each Knative Service runs -----------------------------------------


@dataclass(frozen=True)
class FunctionSpec:
    """One Knative Service as a local process: its plain env, timeout and readiness probe."""

    service: str
    env: dict[str, str]
    timeout: float
    readiness_path: str | None  # an httpGet probe path; None means a TCP probe

    @property
    def function(self) -> str:
        return self.env["FUNCTION"]


def function_specs(manifests: Manifests) -> list[FunctionSpec]:
    specs = []
    for service in manifests.services():
        pod = service["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env = {e["name"]: str(e["value"]) for e in container.get("env") or [] if "value" in e}
        probe = (container.get("readinessProbe") or {}).get("httpGet")
        specs.append(
            FunctionSpec(
                service=service["metadata"]["name"],
                env=env,
                timeout=float(pod.get("timeoutSeconds", 300)),
                readiness_path=probe.get("path", "/") if probe is not None else None,
            )
        )
    return specs


def image_command(dockerfile: Path = ROOT / "Dockerfile") -> list[str]:
    """The image's CMD (exec form), which local runs use to start each function."""
    for line in dockerfile.read_text().splitlines():
        if line.startswith("CMD "):
            return json.loads(line[4:])
    raise WiringError(f"{dockerfile} has no exec-form CMD")


# --- the local network: names to URLs --------------------------------------------------------


@dataclass
class LocalNetwork:
    """Where each Knative Service and Broker answers on this machine."""

    services: dict[str, str]
    brokers: dict[str, str] = field(default_factory=dict)

    def resolve(self, destination: dict[str, Any]) -> str:
        """A Knative Destination (``ref`` and/or ``uri``) → URL, as the Addressable resolver does."""
        ref, uri = destination.get("ref"), destination.get("uri")
        if not ref:
            if not uri or not re.match(r"^https?://", uri):
                raise WiringError(f"destination {destination!r} has no ref and no absolute uri")
            return uri
        kind, name = ref.get("kind"), ref.get("name")
        table = {"Service": self.services, "Broker": self.brokers}.get(kind)
        if table is None or name not in table:
            raise WiringError(f"destination names {kind} {name!r}, which is not running locally")
        base = table[name].rstrip("/")
        if uri:
            return base + (uri if uri.startswith("/") else "/" + uri)
        return base


# --- the broker --------------------------------------------------------------------------------


@dataclass
class DeliveryRecord:
    """What happened to one event for one Trigger (kept for tests and troubleshooting)."""

    trigger: str
    event_id: str
    event_type: str
    subject: str | None
    attempts: int = 0
    status: int | None = None
    outcome: str = "pending"  # delivered | dead-lettered | dropped | pending
    finished_at: float | None = None


@dataclass
class Route:
    name: str
    broker: str
    filters: dict[str, str]
    subscriber: str
    delivery: Delivery
    timeout: float
    dead_letter_url: str | None

    def matches(self, event: CloudEvent) -> bool:
        attributes = event.get_attributes()
        return all(
            value == "" or attributes.get(key) == value for key, value in self.filters.items()
        )


def build_routes(manifests: Manifests, network: LocalNetwork) -> list[Route]:
    """One Route per Trigger: its filter, subscriber URL, and delivery (Trigger's, else Broker's)."""
    routes = []
    for trigger in manifests.of_kind("Trigger"):
        spec = trigger["spec"]
        name = trigger["metadata"]["name"]
        broker = manifests.get("Broker", spec["broker"])
        delivery = parse_delivery(spec.get("delivery") or broker["spec"].get("delivery"))
        subscriber_ref = spec["subscriber"].get("ref") or {}
        timeout = 60.0
        if subscriber_ref.get("kind") == "Service":
            service = manifests.get("Service", subscriber_ref["name"])
            timeout = float(service["spec"]["template"]["spec"].get("timeoutSeconds", 300))
        if delivery.timeout is not None:
            timeout = delivery.timeout
        routes.append(
            Route(
                name=name,
                broker=spec["broker"],
                filters={
                    k: str(v)
                    for k, v in ((spec.get("filter") or {}).get("attributes") or {}).items()
                },
                subscriber=network.resolve(spec["subscriber"]),
                delivery=delivery,
                timeout=timeout,
                dead_letter_url=network.resolve(delivery.dead_letter_sink)
                if delivery.dead_letter_sink
                else None,
            )
        )
    return routes


class QuietRequestHandler(WSGIRequestHandler):
    """No access log line per event: deliveries are recorded in ``Router.records``."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class _Server:
    """A threaded werkzeug server on 127.0.0.1 serving one WSGI app."""

    def __init__(self, app: Callable, port: int = 0) -> None:
        self._server = make_server(
            "127.0.0.1", port, app, threaded=True, request_handler=QuietRequestHandler
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)


class Router:
    """The local Broker: accepts events at ``/<namespace>/<broker>`` (and ``/``) with 202, then
    delivers each to every matching Trigger's subscriber, at least once, with its retries."""

    def __init__(self, manifests: Manifests, services: dict[str, str], port: int = 0) -> None:
        self._stopping = threading.Event()
        self._lock = threading.Condition()
        self.records: list[DeliveryRecord] = []
        self._server = _Server(self._wsgi, port)
        self.port = self._server.port
        self.url = f"http://127.0.0.1:{self.port}"
        brokers = manifests.of_kind("Broker")
        self.broker_urls = {
            b["metadata"][
                "name"
            ]: f"{self.url}/{b['metadata'].get('namespace', 'default')}/{b['metadata']['name']}"
            for b in brokers
        }
        self.network = LocalNetwork(dict(services), self.broker_urls)
        self.routes = build_routes(manifests, self.network)
        self._http = requests.Session()

    def start(self) -> Router:
        self._server.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.stop()

    def wait_for(self, predicate: Callable[[list[DeliveryRecord]], bool], timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: predicate(self.records), timeout)

    def _broker_for(self, path: str) -> str | None:
        if path in ("", "/"):
            return next(iter(self.broker_urls), None)
        for name, url in self.broker_urls.items():
            if url[len(self.url) :] == path.rstrip("/"):
                return name
        return None

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        broker = self._broker_for(request.path)
        if request.method != "POST" or broker is None:
            status = 405 if broker else 404
            return Response(status=status)(environ, start_response)
        try:
            event = from_http(dict(request.headers), request.get_data())
        except (GenericException, ValueError, TypeError) as exc:
            return Response(f"not a CloudEvent: {exc}", status=400)(environ, start_response)
        event["knativearrivaltime"] = dt.datetime.now(dt.UTC).isoformat()
        for route in self.routes:
            if route.broker == broker and route.matches(event):
                record = DeliveryRecord(
                    route.name, event["id"], event["type"], event.get("subject")
                )
                with self._lock:
                    self.records.append(record)
                threading.Thread(
                    target=self._deliver, args=(route, event, record), daemon=True
                ).start()
        return Response(status=202)(environ, start_response)

    def _attempt(self, route: Route, event: CloudEvent) -> tuple[int | None, bytes]:
        headers, body = to_binary(event)
        try:
            response = self._http.post(
                route.subscriber, headers=headers, data=body, timeout=route.timeout
            )
        except requests.RequestException as exc:
            return None, str(exc).encode()
        return response.status_code, response.content

    def _deliver(self, route: Route, event: CloudEvent, record: DeliveryRecord) -> None:
        status, body = None, b""
        for attempt in range(route.delivery.retry + 1):
            if attempt and self._stopping.wait(route.delivery.delay_before(attempt)):
                return
            status, body = self._attempt(route, event)
            self._update(record, attempts=attempt + 1, status=status)
            if status is not None and 200 <= status < 300:
                self._update(record, outcome="delivered", finished_at=time.monotonic())
                return
            if status is not None and status < 500 and status not in RETRYABLE_STATUS:
                break
        log.warning(
            "event %s (%s) undeliverable to %s after %d attempt(s), last status %s",
            event["id"],
            event["type"],
            route.subscriber,
            record.attempts,
            status,
        )
        outcome = "dropped"
        if route.dead_letter_url and self._dead_letter(route, event, status, body):
            outcome = "dead-lettered"
        self._update(record, outcome=outcome, finished_at=time.monotonic())

    def _dead_letter(
        self, route: Route, event: CloudEvent, status: int | None, body: bytes
    ) -> bool:
        sink = route.dead_letter_url
        if sink is None:
            return False
        dead = CloudEvent(dict(event.get_attributes()), event.get_data())
        dead["knativeerrordest"] = route.subscriber
        if status is not None:
            dead["knativeerrorcode"] = str(status)
        if body:
            dead["knativeerrordata"] = base64.b64encode(body[:ERROR_BODY_LIMIT]).decode("ascii")
        headers, payload = to_binary(dead)
        try:
            response = self._http.post(sink, headers=headers, data=payload, timeout=30)
        except requests.RequestException as exc:
            log.error(
                "dead-letter sink %s unreachable, event %s lost: %s",
                sink,
                event["id"],
                exc,
            )
            return False
        if response.status_code >= 300:
            log.error(
                "dead-letter sink %s answered %s, event %s lost",
                sink,
                response.status_code,
                event["id"],
            )
            return False
        return True

    def _update(self, record: DeliveryRecord, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(record, key, value)
            self._lock.notify_all()


# --- the scheduler -----------------------------------------------------------------------------


@dataclass
class Tick:
    """One PingSource, resolved: when it fires and where its event goes."""

    name: str
    namespace: str
    schedule: Schedule
    sink: str
    content_type: str
    data: str | None
    fired: int = 0

    def event(self) -> CloudEvent:
        attributes = {
            "type": PING_TYPE,
            "source": f"/apis/v1/namespaces/{self.namespace}/pingsources/{self.name}",
            "id": str(uuid.uuid4()),
            "time": dt.datetime.now(dt.UTC).isoformat(),
        }
        if self.data is None:
            return CloudEvent(attributes, None)
        attributes["datacontenttype"] = self.content_type
        is_json = "json" in self.content_type
        return CloudEvent(attributes, json.loads(self.data) if is_json else self.data.encode())


def build_ticks(
    manifests: Manifests, network: LocalNetwork, overrides: dict[str, str] | None = None
) -> list[Tick]:
    """One Tick per PingSource; ``overrides`` replaces a schedule by PingSource name (the demo
    ticks every few seconds instead of every minute)."""
    overrides = overrides or {}
    ticks = []
    for source in manifests.of_kind("PingSource"):
        spec, meta = source["spec"], source["metadata"]
        expression = overrides.get(meta["name"], spec["schedule"])
        ticks.append(
            Tick(
                name=meta["name"],
                namespace=meta.get("namespace", "default"),
                schedule=parse_schedule(
                    expression,
                    None if expression.startswith(("CRON_TZ=", "TZ=")) else spec.get("timezone"),
                ),
                sink=network.resolve(spec["sink"]),
                content_type=spec.get("contentType", "application/json"),
                data=spec.get("data"),
            )
        )
    return ticks


class Scheduler:
    """Fires every Tick at its schedule's times; a slow sink never delays the other ticks."""

    def __init__(self, ticks: list[Tick]) -> None:
        self.ticks = ticks
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._http = requests.Session()

    def start(self) -> Scheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)

    def _run(self) -> None:
        now = dt.datetime.now(dt.UTC)
        due = {tick.name: tick.schedule.next_after(now) for tick in self.ticks}
        while not self._stopping.is_set():
            if not self.ticks:
                self._stopping.wait()
                return
            tick = min(self.ticks, key=lambda t: due[t.name])
            wait = (due[tick.name] - dt.datetime.now(dt.UTC)).total_seconds()
            if wait > 0 and self._stopping.wait(wait):
                return
            due[tick.name] = tick.schedule.next_after(max(due[tick.name], dt.datetime.now(dt.UTC)))
            threading.Thread(target=self.fire, args=(tick,), daemon=True).start()

    def fire(self, tick: Tick) -> int | None:
        """Send one ping now; returns the sink's status (None when unreachable)."""
        tick.fired += 1
        headers, body = to_binary(tick.event())
        try:
            response = self._http.post(tick.sink, headers=headers, data=body, timeout=120)
        except requests.RequestException as exc:
            log.warning("tick %s: sink %s unreachable: %s", tick.name, tick.sink, exc)
            return None
        if response.status_code >= 300:
            log.warning("tick %s: sink %s answered %s", tick.name, tick.sink, response.status_code)
        return response.status_code
