"""Keystone v3 of the simulated region, driven by keystoneauth1 and raw HTTP."""

from __future__ import annotations

import requests
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from tests.sim.conftest import connect


def test_version_discovery_lists_v3(region):
    reply = requests.get(region.keystone_url)
    assert reply.status_code == 300
    assert reply.json()["versions"]["values"][0]["id"].startswith("v3")


def test_password_auth_returns_token_and_catalog_with_identity_and_compute(region):
    auth = v3.Password(**region.admin_credentials)
    sess = ks_session.Session(auth=auth)
    assert sess.get_token()
    access = auth.get_access(sess)
    assert "admin" in access.role_names
    assert access.service_catalog.url_for(service_type="compute") == region.nova_url
    assert access.service_catalog.url_for(service_type="identity").startswith(region.keystone_url)


def test_instance_ha_endpoint_is_in_the_catalog_when_given(region_factory):
    region = region_factory(hosts=1, instance_ha_url="http://127.0.0.1:9999/")
    auth = v3.Password(**region.admin_credentials)
    sess = ks_session.Session(auth=auth)
    assert (
        sess.get_endpoint(service_type="instance-ha", interface="public")
        == "http://127.0.0.1:9999/"
    )


def test_token_auth_exchanges_a_token_for_a_new_one(region):
    token = region.issue_token(admin=False)
    auth = v3.Token(
        auth_url=region.keystone_url,
        token=token,
        project_name="demo",
        project_domain_name="Default",
    )
    access = auth.get_access(ks_session.Session())
    assert access.auth_token != token
    assert access.role_names == ["member", "reader"]


def test_token_validation_with_subject_token(region):
    admin = region.issue_token(admin=True)
    member = region.issue_token(admin=False)
    reply = requests.get(
        f"{region.keystone_url}/v3/auth/tokens",
        headers={"X-Auth-Token": admin, "X-Subject-Token": member},
    )
    assert reply.status_code == 200
    assert reply.headers["X-Subject-Token"] == member
    body = reply.json()["token"]
    assert body["user"]["name"] == "demo" and body["project"]["name"] == "demo"
    assert {r["name"] for r in body["roles"]} == {"member", "reader"}


def test_unknown_subject_token_is_404_and_missing_auth_is_401(region):
    admin = region.issue_token()
    reply = requests.get(
        f"{region.keystone_url}/v3/auth/tokens",
        headers={"X-Auth-Token": admin, "X-Subject-Token": "nope"},
    )
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == 404
    reply = requests.get(
        f"{region.keystone_url}/v3/auth/tokens", headers={"X-Subject-Token": admin}
    )
    assert reply.status_code == 401


def test_wrong_password_is_401_in_keystone_error_shape(region):
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": "admin", "domain": {"name": "Default"}, "password": "wrong"}
                },
            }
        }
    }
    reply = requests.post(f"{region.keystone_url}/v3/auth/tokens", json=body)
    assert reply.status_code == 401
    assert reply.json()["error"]["title"] == "Unauthorized"


def test_malformed_auth_body_is_400(region):
    reply = requests.post(
        f"{region.keystone_url}/v3/auth/tokens",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == 400


def test_tokens_expire_after_their_ttl_in_cloud_time(region_factory):
    region = region_factory(hosts=1, time_scale=100, token_ttl=60)
    admin = region.issue_token()
    checker = region.issue_token()
    region.sleep(61)
    fresh = region.issue_token()
    reply = requests.get(
        f"{region.keystone_url}/v3/auth/tokens",
        headers={"X-Auth-Token": fresh, "X-Subject-Token": admin},
    )
    assert reply.status_code == 404
    assert (
        requests.get(f"{region.nova_url}/servers", headers={"X-Auth-Token": checker}).status_code
        == 401
    )


def test_non_admin_cloud_entry_authenticates_as_member(region):
    member = connect(region, f"{region.cloud_name}-member")
    assert "admin" not in member.session.auth.get_access(member.session).role_names
