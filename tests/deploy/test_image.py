"""The image holds what its CMD serves, for every Service in the manifests.

No container engine is needed to prove the CMD itself: `vigil dev` starts every function with
that exact command (vigil.wiring.image_command) from the repository root, which has the image's
layout, so tests/deploy/test_dev.py runs it for the HTTP api and the CloudEvent functions.
"""

from __future__ import annotations

import re

from vigil.wiring import ROOT, function_specs, image_command, load_manifests

DOCKERFILE = ROOT / "Dockerfile"


def test_image_copies_every_package_and_the_functions():
    copied = {
        source
        for line in re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), flags=re.M)
        for source in line.split()
    }
    needed = {"shared", "vigil", "vigilsim", "functions", "pyproject.toml", "constraints.txt"}
    assert needed <= copied
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for kept in needed:
        assert f"!{kept}" in ignored


def test_every_service_names_a_function_the_image_can_serve():
    for spec in function_specs(load_manifests()):
        assert (ROOT / "functions" / spec.function / "main.py").is_file(), spec.service


def test_image_cmd_starts_the_function_named_by_its_environment():
    command = image_command(DOCKERFILE)
    assert command[:2] == ["sh", "-c"]
    assert command[2].startswith("exec gunicorn ")
    assert (
        "functions_framework:create_app(target='$FUNCTION', source='functions/$FUNCTION/main.py', "
        "signature_type='$SIGNATURE_TYPE')" in command[2]
    )
    assert '--threads "${THREADS' in command[2] and '--bind "${HOST:-0.0.0.0}:$PORT"' in command[2]


def test_the_run_image_installs_the_locked_versions_and_keeps_no_installer():
    text = DOCKERFILE.read_text()
    assert "pip install --constraint constraints.txt ." in text
    assert "pip uninstall --yes pip setuptools" in text
    assert re.search(r"^ARG BASE=\S+@sha256:[0-9a-f]{64}$", text, flags=re.M)
    stages = re.findall(r"^FROM ", text, flags=re.M)
    assert len(stages) == 2
    run_stage = text[text.rindex("\nFROM ") :]
    assert "pip install" not in run_stage and "COPY --from=build /opt/vigil /opt/vigil" in run_stage
    assert "org.opencontainers.image.version" in run_stage


def test_bootstrap_and_the_image_install_the_one_lock_file_that_scripts_lock_writes():
    bootstrap = (ROOT / "scripts" / "bootstrap").read_text()
    assert '--constraint "$root/constraints.txt"' in bootstrap
    assert '"$root/constraints.txt" -nt "$stamp"' in bootstrap  # a refreshed lock reinstalls
    assert '>"$root/constraints.txt.new"' in (ROOT / "scripts" / "lock").read_text()
    pins = [
        line
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==\S+", pin) for pin in pins), pins
    names = {pin.split("==")[0].lower().replace("_", "-") for pin in pins}
    assert {"functions-framework", "gunicorn", "sqlalchemy", "prometheus-client"} <= names
