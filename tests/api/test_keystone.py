"""Keystone token validation against the simulated region (api.md §2)."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, use_region


@pytest.fixture
def keystone(db, served, sim, monkeypatch, noauth):
    monkeypatch.setenv("VIGIL_AUTH_STRATEGY", "keystone")
    use_region(monkeypatch, sim)
    return sim


def client(served, token=None):
    return Api(served.url, {"X-Auth-Token": token} if token else {})


def test_missing_token_is_401(keystone, served):
    r = client(served).get("/v1/segments", version="1.2")
    assert r.status_code == 401
    assert r.json()["unauthorized"]["code"] == 401
    assert "OpenStack-API-Version" not in r.headers


def test_invalid_token_is_401(keystone, served):
    assert client(served, "not-a-token").get("/v1/segments").status_code == 401


def test_admin_token_is_allowed(keystone, served):
    r = client(served, keystone.issue_token(admin=True)).get("/v1/segments")
    assert r.status_code == 200 and r.json() == {"segments": []}


def test_member_token_is_403_but_may_read_the_version_document(keystone, served):
    member = client(served, keystone.issue_token(admin=False))
    r = member.get("/v1/segments")
    assert r.status_code == 403
    assert (
        r.json()["forbidden"]["message"]
        == "Policy doesn't allow os_masakari_api:segments:index to be performed."
    )
    assert member.get("/v1/").status_code == 200


def test_member_with_invalid_body_gets_400_before_403(keystone, served):
    member = client(served, keystone.issue_token(admin=False))
    assert member.post("/v1/segments", {"segment": {"name": ""}}).status_code == 400
    assert member.post("/v1/notifications", {"notification": {}}).status_code == 400


def test_project_route_must_match_token_project(keystone, served):
    admin = client(served, keystone.issue_token(admin=True))
    r = admin.get("/v1/abcdef/segments")
    assert r.status_code == 400
    text = r.json()["badRequest"]["message"]
    assert text.startswith(
        "Malformed request URL: URL's project_id 'abcdef' doesn't match Context's project_id '"
    )
    project = text.rsplit("'", 2)[1]
    assert admin.get(f"/v1/{project}/segments").status_code == 200


def test_validations_are_cached(keystone, served):
    admin = client(served, keystone.issue_token(admin=True))
    assert admin.get("/v1/segments").status_code == 200
    fresh = client(served, keystone.issue_token(admin=True))
    keystone.set_api_down("keystone")
    try:
        assert admin.get("/v1/segments").status_code == 200
        r = fresh.get("/v1/segments")
    finally:
        keystone.set_api_down("keystone", down=False)
    assert r.status_code == 503 and r.json()["serviceUnavailable"]["code"] == 503


def test_cache_can_be_disabled(keystone, served, monkeypatch):
    from shared.settings import get_settings

    monkeypatch.setenv("VIGIL_TOKEN_CACHE_SECONDS", "0")
    get_settings.cache_clear()
    admin = client(served, keystone.issue_token(admin=True))
    assert admin.get("/v1/segments").status_code == 200
    keystone.set_api_down("keystone")
    try:
        assert admin.get("/v1/segments").status_code == 503
    finally:
        keystone.set_api_down("keystone", down=False)


def test_healthcheck_and_root_need_no_token(keystone, served):
    assert client(served).get("/healthcheck").status_code == 200
    assert client(served).get("/").status_code == 200


def test_cached_validation_ends_with_the_token(db, served, region_factory, monkeypatch, noauth):
    import time

    region = region_factory(hosts=1, time_scale=1, token_ttl=2)
    monkeypatch.setenv("VIGIL_AUTH_STRATEGY", "keystone")
    use_region(monkeypatch, region)
    admin = client(served, region.issue_token(admin=True))
    assert admin.get("/v1/segments").status_code == 200
    region.set_api_down("keystone")
    assert admin.get("/v1/segments").status_code == 200  # from the cache
    time.sleep(3)
    assert admin.get("/v1/segments").status_code == 503  # expired: Keystone must be asked again
