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
    copied = set(re.findall(r"^COPY (\S+) ", DOCKERFILE.read_text(), flags=re.M))
    assert {"shared", "vigil", "vigilsim", "functions", "pyproject.toml"} <= copied
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for kept in ("!shared", "!vigil", "!vigilsim", "!functions", "!pyproject.toml"):
        assert kept in ignored


def test_every_service_names_a_function_the_image_can_serve():
    for spec in function_specs(load_manifests()):
        assert (ROOT / "functions" / spec.function / "main.py").is_file(), spec.service


def test_image_cmd_starts_the_function_named_by_its_environment():
    command = image_command(DOCKERFILE)
    assert command[:2] == ["sh", "-c"]
    assert "functions/$FUNCTION/main.py" in command[2] and '--target "$FUNCTION"' in command[2]
    assert '--signature-type "$SIGNATURE_TYPE"' in command[2]
