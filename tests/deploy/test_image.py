"""The image's CMD serves any of the four functions, chosen by FUNCTION and SIGNATURE_TYPE.

No container engine is needed to prove it: the same command runs here, from the repository root
(the image's WORKDIR holds the same layout), with the environment a Knative Service gives it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from vigil.dev import _free_port
from vigil.wiring import ROOT, function_specs, image_command, load_manifests

DOCKERFILE = ROOT / "Dockerfile"


def test_image_copies_every_package_and_the_functions():
    copied = set(re.findall(r"^COPY (\S+) ", DOCKERFILE.read_text(), flags=re.M))
    assert {"shared", "vigil", "vigilsim", "functions", "pyproject.toml"} <= copied
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for kept in ("!shared", "!vigil", "!vigilsim", "!functions", "!pyproject.toml"):
        assert kept in ignored


def test_every_service_names_a_function_the_image_can_serve():
    for spec in function_specs(load_manifests()):
        assert (ROOT / "functions" / spec.function / "main.py").is_file(), spec.service


def _serve(function: str, signature: str, database_url: str):
    port = _free_port()
    env = dict(os.environ, FUNCTION=function, SIGNATURE_TYPE=signature, PORT=str(port), HOST="127.0.0.1",
               VIGIL_DATABASE_URL=database_url, THREADS="2",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    process = subprocess.Popen(image_command(DOCKERFILE), cwd=ROOT, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{function} exited with {process.returncode}"
        try:
            requests.get(url, timeout=1)
            return process, url
        except requests.ConnectionError:
            time.sleep(0.2)
    process.kill()
    pytest.fail(f"{function} did not listen on {port}")


def _stop(process):
    process.terminate()
    process.wait(10)


def test_image_cmd_serves_the_http_api(database_url):
    process, url = _serve("api", "http", database_url)
    try:
        reply = requests.get(f"{url}/healthcheck", timeout=5)
    finally:
        _stop(process)
    assert (reply.status_code, reply.text.strip()) == (200, "OK")


def test_image_cmd_serves_a_cloudevent_function(db):
    process, url = _serve("purge", "cloudevent", db)
    ping = CloudEvent({"type": "dev.knative.sources.ping", "source": "/apis/v1/namespaces/vigil/pingsources/purge-tick",
                       "datacontenttype": "application/json"}, {"tick": "purge"})
    headers, body = to_binary(ping)
    try:
        reply = requests.post(url, headers=headers, data=body, timeout=60)
    finally:
        _stop(process)
    assert 200 <= reply.status_code < 300, reply.text
