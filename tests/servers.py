"""Serve a functions-framework target on a real local port, in a thread, for HTTP tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ServedFunction:
    url: str
    server: object
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


def serve_function(
    name: str, target: str | None = None, signature: str | None = None
) -> ServedFunction:
    """Start ``functions/<name>/main.py`` exactly as ``functions-framework --target`` would."""
    from functions_framework import create_app

    app = create_app(target or name, str(ROOT / "functions" / name / "main.py"), signature)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    return ServedFunction(f"http://127.0.0.1:{server.server_port}", server, thread)
