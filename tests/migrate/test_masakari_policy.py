"""The policy file a Masakari operator already has works unchanged with VIGIL_POLICY_FILE.

The file is Masakari's own sample (tests/masakari/policy.yaml.sample, made by
``oslopolicy-sample-generator --namespace masakari``); tokens come from the simulated Keystone,
so roles are real: an admin and a member of another project.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from shared.api import policy
from shared.settings import get_settings
from tests.api.conftest import Api, add_host, add_segment, noauth, served, sim, use_region

SAMPLE = Path(__file__).resolve().parent.parent / "masakari" / "policy.yaml.sample"
RULE = re.compile(r'^#("[^"]+": .*)$')
__all__ = ["noauth", "served", "sim"]  # fixtures shared with the api tests


def uncommented() -> str:
    """The sample with every rule switched on at Masakari's default, as an operator edits it."""
    return "\n".join(
        RULE.sub(r"\1", line) for line in SAMPLE.read_text().splitlines() if line.strip()
    )


def rule_names(text: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r'^#?"([^"]+)":', text, re.M)}


@pytest.fixture
def keystone(db, served, sim, monkeypatch, noauth):
    monkeypatch.setenv("VIGIL_AUTH_STRATEGY", "keystone")
    use_region(monkeypatch, sim)
    return sim


@pytest.fixture
def policy_file(keystone, tmp_path, monkeypatch):
    def use(text: str | None = None) -> None:
        path = SAMPLE
        if text is not None:
            path = tmp_path / "policy.yaml"
            path.write_text(text)
        monkeypatch.setenv("VIGIL_POLICY_FILE", str(path))
        get_settings.cache_clear()
        policy.reset()

    yield use
    policy.reset()


def clients(served, region) -> tuple[Api, Api]:
    return (
        Api(served.url, {"X-Auth-Token": region.issue_token(admin=True)}),
        Api(served.url, {"X-Auth-Token": region.issue_token(admin=False)}),
    )


def reads(segment: str, host: str) -> dict[str, str]:
    """One request per Masakari rule that a GET exercises."""
    return {
        "os_masakari_api:segments:index": "/v1/segments",
        "os_masakari_api:segments:detail": f"/v1/segments/{segment}",
        "os_masakari_api:os-hosts:index": f"/v1/segments/{segment}/hosts",
        "os_masakari_api:os-hosts:detail": f"/v1/segments/{segment}/hosts/{host}",
        "os_masakari_api:notifications:index": "/v1/notifications",
        "os_masakari_api:notifications:detail": f"/v1/notifications/{uuid.uuid4()}",
        "os_masakari_api:extensions:index": "/v1/extensions",
    }


def test_every_rule_in_masakaris_sample_is_a_rule_vigil_enforces():
    assert rule_names(SAMPLE.read_text()) <= {d.name for d in policy.defaults()}


@pytest.mark.parametrize("form", ["as generated", "every rule uncommented"])
def test_masakaris_sample_policy_keeps_admin_allowed_and_members_out(
    policy_file, served, keystone, form
):
    policy_file(None if form == "as generated" else uncommented())
    segment = add_segment("seg")
    host = add_host(segment, "compute-001")
    admin, member = clients(served, keystone)
    for rule, path in reads(segment.uuid, host.uuid).items():
        expected = 404 if rule.endswith("notifications:detail") else 200
        assert admin.get(path).status_code == expected, rule
        denied = member.get(path)
        assert denied.status_code == 403, rule
        assert denied.json()["forbidden"]["message"] == (
            f"Policy doesn't allow {rule} to be performed."
        )
    create = {"segment": {"name": "s2", "recovery_method": "auto", "service_type": "COMPUTE"}}
    assert member.post("/v1/segments", create).status_code == 403
    assert admin.post("/v1/segments", create).status_code == 201
    assert member.get("/v1/").status_code == 200  # versions:index is "@" in both


def test_an_operators_edit_of_masakaris_file_takes_effect(policy_file, served, keystone):
    edited = uncommented().replace(
        '"os_masakari_api:segments:index": "rule:admin_api"',
        '"os_masakari_api:segments:index": "role:member"',
    )
    assert edited != uncommented()
    policy_file(edited)
    add_segment("seg")
    admin, member = clients(served, keystone)
    listed = member.get("/v1/segments")
    assert listed.status_code == 200 and [s["name"] for s in listed.json()["segments"]] == ["seg"]
    create = {"segment": {"name": "s2", "recovery_method": "auto", "service_type": "COMPUTE"}}
    assert member.post("/v1/segments", create).status_code == 403
    assert admin.get("/v1/segments").status_code == 200
