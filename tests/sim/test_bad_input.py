"""Garbage requests get the real service's 4xx and fault shape; never a 5xx, never a dropped connection."""

from __future__ import annotations

import requests

BODIES = [
    b"",
    b"{",
    b"null",
    b"[]",
    b"1",
    b'"x"',
    b'{"a":1}',
    b'{"server": null}',
    b'{"server": {"name": 1}}',
    b'{"server": {"name": "x", "flavorRef": "2", "networks": "none", "metadata": []}}',
    b'{"evacuate": []}',
    b'{"evacuate": {"host": 5}}',
    b'{"os-migrateLive": null}',
    b'{"lock": []}',
    b'{"status": 5}',
    b'{"forced_down": "maybe"}',
    b'{"disabled_reason": []}',
    b'{"aggregate": []}',
    b'{"add_host": {"host": []}}',
    b'{"host": [], "binary": {}}',
    b'{"auth": null}',
    b'{"auth": {"identity": {"methods": ["password"], "password": []}}}',
    b'{"metadata": {"labels": []}}',
    b'{"spec": {"taints": {}}}',
    b'{"spec": []}',
    b'{"metadata": 5}',
    b'[{"op": "add", "path": "x"}]',
    b'{"ResetType": []}',
]


def test_garbage_bodies_on_every_writable_resource_are_4xx(region):
    sid = region.boot_server("compute-000")
    svc = region.service("compute-000")["id"]
    aggregate = region.add_aggregate("rack", [])
    token = region.issue_token()
    targets = [
        ("POST", "/identity/v3/auth/tokens"),
        ("POST", "/compute/v2.1/servers"),
        ("POST", f"/compute/v2.1/servers/{sid}/action"),
        ("PUT", f"/compute/v2.1/servers/{sid}/metadata"),
        ("PUT", f"/compute/v2.1/os-services/{svc}"),
        ("POST", "/compute/v2.1/os-aggregates"),
        ("POST", f"/compute/v2.1/os-aggregates/{aggregate}/action"),
        ("PATCH", "/k8s/api/v1/nodes/compute-001"),
        ("POST", "/redfish/v1/Systems/compute-002/Actions/ComputerSystem.Reset"),
        ("POST", "/control/inject_faults"),
    ]
    seen = set()
    with requests.Session() as http:
        for method, path in targets:
            for body in BODIES:
                for version in ("2.11", "2.96"):
                    headers = {
                        "X-Auth-Token": token,
                        "OpenStack-API-Version": f"compute {version}",
                        "Content-Type": "application/merge-patch+json"
                        if method == "PATCH"
                        else "application/json",
                    }
                    reply = http.request(method, region.url + path, data=body, headers=headers)
                    assert reply.status_code < 500, (method, path, body, reply.text)
                    seen.add(reply.status_code)
                    if reply.status_code >= 400 and reply.content:
                        assert isinstance(reply.json(), dict)
    assert 400 in seen


def test_nova_rejections_use_novas_fault_names(region):
    token = {"X-Auth-Token": region.issue_token()}
    reply = requests.post(f"{region.nova_url}/servers", data=b"{", headers=token)
    assert reply.json() == {"badRequest": {"code": 400, "message": "Malformed request body"}}
    reply = requests.get(f"{region.nova_url}/os-aggregates/99", headers=token)
    assert reply.json()["itemNotFound"]["code"] == 404
    reply = requests.delete(f"{region.nova_url}/servers", headers=token)
    assert reply.status_code == 405 and "badMethod" in reply.json()
