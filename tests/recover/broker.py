"""A small stand-in for the Knative broker: accepts events, forwards triggers to ``recover``.

It answers 202 at once (as a broker does), records every event it receives, and delivers
recovery triggers to the recover function in the background in binary mode, redelivering with
back-off when recover answers non-2xx (events.md §6).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import requests
from cloudevents.conversion import to_binary
from cloudevents.http import from_http
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from shared.events import recovery_trigger_type


@dataclass
class Broker:
    target: str | None = None
    received: list = field(default_factory=list)
    deliveries: list = field(default_factory=list)
    retries: int = 5
    backoff: float = 0.2

    def start(self) -> Broker:
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self._workers: list[threading.Thread] = []
        return self

    def stop(self) -> None:
        self.server.shutdown()
        for worker in self._workers:
            worker.join(30)

    @Request.application
    def _app(self, request: Request) -> Response:
        event = from_http(dict(request.headers), request.get_data())
        self.received.append(event)
        if event["type"] == recovery_trigger_type() and self.target:
            worker = threading.Thread(target=self._deliver, args=(event,), daemon=True)
            self._workers.append(worker)
            worker.start()
        return Response(status=202)

    def _deliver(self, event) -> None:
        headers, body = to_binary(event)
        for attempt in range(self.retries + 1):
            try:
                status = requests.post(
                    self.target, headers=headers, data=body, timeout=120
                ).status_code
            except requests.RequestException:
                status = 0
            self.deliveries.append((event["subject"], status))
            if 200 <= status < 300:
                return
            time.sleep(self.backoff * 2**attempt)

    def types(self, subject: str) -> list[str]:
        """Catalogue suffixes (``notification.process.start`` …) received about ``subject``."""
        return [
            ".".join(e["type"].split(".")[-3:])
            for e in self.received
            if e.get("subject") == subject
        ]

    def idle(self) -> bool:
        return all(not w.is_alive() for w in self._workers)
