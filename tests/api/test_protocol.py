"""Transport rules: discovery, microversions, media types, size limit, routes, policy (api.md §1-5, §12)."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlparse

import pytest

from shared.api import policy
from tests.api.conftest import add_segment

SEGMENT = {"segment": {"name": "s", "recovery_method": "auto", "service_type": "COMPUTE"}}
MEDIA = [{"base": "application/json", "type": "application/vnd.openstack.masakari+json;version=1"}]


def test_root_lists_versions_without_microversion_headers(api):
    r = api.get("/", version="1.2")
    assert r.status_code == 200
    assert r.json() == {
        "versions": [
            {
                "id": "v1.0",
                "status": "CURRENT",
                "version": "1.4",
                "min_version": "1.0",
                "updated": "2016-07-01T11:33:21Z",
                "links": [{"rel": "self", "href": f"{api.url}/v1/"}],
            }
        ]
    }
    assert "OpenStack-API-Version" not in r.headers and "x-openstack-request-id" not in r.headers


@pytest.mark.parametrize("path", ["/v1", "/v1/"])
def test_v1_document(api, path):
    r = api.get(path)
    assert r.status_code == 200
    doc = r.json()["version"]
    assert doc["version"] == "1.4" and doc["min_version"] == "1.0" and doc["media-types"] == MEDIA
    assert doc["links"][1] == {
        "rel": "describedby",
        "type": "text/html",
        "href": "https://docs.openstack.org/",
    }
    assert r.headers["OpenStack-API-Version"] == "instance-ha 1.0"


def test_other_paths_are_300_choices(api):
    r = api.get("/v2")
    assert r.status_code == 300
    assert r.json() == {
        "choices": [
            {
                "id": "v1.0",
                "status": "CURRENT",
                "links": [{"rel": "self", "href": f"{api.url}/v1/v2"}],
                "media-types": MEDIA,
            }
        ]
    }
    assert "x-openstack-request-id" not in r.headers


def test_healthcheck(api):
    r = api.get("/healthcheck")
    assert (
        r.status_code == 200
        and r.text == "OK"
        and r.headers["Content-Type"].startswith("text/plain")
    )


@pytest.mark.parametrize(
    "header, effective",
    [
        (None, "1.0"),
        ("instance-ha 1.2", "1.2"),
        ("instance-ha latest", "1.4"),
        ("compute 2.5", "1.0"),
        ("compute 2.1, instance-ha 1.3", "1.3"),
    ],
)
def test_microversion_negotiation(api, header, effective):
    headers = {"OpenStack-API-Version": header} if header else {}
    r = api.get("/v1/segments", headers=headers)
    assert r.status_code == 200
    assert r.headers["OpenStack-API-Version"] == f"instance-ha {effective}"
    assert r.headers["Vary"] == "OpenStack-API-Version"


def test_legacy_version_header_is_ignored(api):
    r = api.get("/v1/segments", headers={"X-OpenStack-Masakari-API-Version": "1.2"})
    assert r.headers["OpenStack-API-Version"] == "instance-ha 1.0"


@pytest.mark.parametrize("value", ["abc", "0.9", "1.01", "LATEST", "1.", "01.1"])
def test_malformed_microversion_is_400_without_headers(api, value):
    r = api.get("/v1/segments", headers={"OpenStack-API-Version": f"instance-ha {value}"})
    assert r.status_code == 400
    assert r.json() == {
        "badRequest": {
            "code": 400,
            "message": f"API Version String {value} is of invalid format. Must be of format MajorNum.MinorNum.",
        }
    }
    assert "OpenStack-API-Version" not in r.headers and "Vary" not in r.headers


@pytest.mark.parametrize("value", ["1.9", "2.0"])
def test_out_of_range_microversion_is_406(api, value):
    r = api.get("/v1/segments", version=value)
    assert r.status_code == 406
    assert r.json() == {
        "masakariFault": {
            "code": 406,
            "message": f"Version {value} is not supported by the API. Minimum is 1.0 and maximum is 1.4.",
        }
    }
    assert r.headers["Vary"] == "OpenStack-API-Version" and "OpenStack-API-Version" not in r.headers


def test_every_v1_response_has_a_request_id(api):
    for r in (api.get("/v1/segments"), api.get("/v1/nothing"), api.get(f"/v1/segments/{'0' * 32}")):
        assert r.headers["x-openstack-request-id"].startswith("req-")


def test_unknown_route_is_plain_404_without_version_headers(api):
    r = api.get("/v1/nonexistent", version="1.2")
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/plain")
    assert "OpenStack-API-Version" not in r.headers


def test_put_on_collection_is_plain_404(api):
    assert api.put("/v1/segments", SEGMENT).headers["Content-Type"].startswith("text/plain")


def test_fault_bodies_carry_version_headers(api):
    r = api.get(f"/v1/segments/{'0' * 32}", version="1.1")
    assert r.status_code == 404
    assert r.headers["OpenStack-API-Version"] == "instance-ha 1.1"
    assert r.headers["Content-Type"] == "application/json; charset=UTF-8"


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/json", "application/vnd.openstack.masakari+json"],
)
def test_json_media_types_are_accepted(api, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    r = api.request("POST", "/v1/segments", data=json.dumps(SEGMENT), headers=headers)
    assert r.status_code == 201, r.text


def test_other_media_type_is_415(api):
    r = api.request(
        "POST", "/v1/segments", data="<x/>", headers={"Content-Type": "application/xml"}
    )
    assert r.status_code == 415
    assert r.json() == {"badMediaType": {"code": 415, "message": "Unsupported Content-Type"}}


def test_malformed_json_is_400(api):
    r = api.request(
        "POST", "/v1/segments", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["badRequest"]["message"] == "Malformed request body"


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_empty_body_is_400(api, method):
    path = "/v1/segments" if method == "POST" else f"/v1/segments/{add_segment().uuid}"
    r = api.request(method, path, data=b"", headers={"Content-Type": "application/json"})
    assert (
        r.status_code == 400 and r.json()["badRequest"]["message"] == "None is not of type 'object'"
    )


def _oversize():
    return json.dumps({"segment": {**SEGMENT["segment"], "description": "x" * 114688}}).encode()


def test_oversize_body_is_413(api):
    r = api.request(
        "POST", "/v1/segments", data=_oversize(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json()["overLimit"]["code"] == 413
    assert "OpenStack-API-Version" not in r.headers


def test_oversize_chunked_body_is_413(api):
    url = urlparse(api.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    data = _oversize()
    chunks = (data[i : i + 8192] for i in range(0, len(data), 8192))
    conn.request(
        "POST",
        "/v1/segments",
        body=chunks,
        headers={"Content-Type": "application/json"},
        encode_chunked=True,
    )
    response = conn.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["overLimit"]["code"] == 413
    conn.close()


def test_body_at_the_limit_is_read(api):
    padding = 114688 - len(json.dumps({"segment": {**SEGMENT["segment"], "description": ""}}))
    data = json.dumps({"segment": {**SEGMENT["segment"], "description": "x" * padding}})
    assert len(data) == 114688
    r = api.request("POST", "/v1/segments", data=data, headers={"Content-Type": "application/json"})
    assert r.status_code == 201


# ------------------------------------------------------------------ project routes


def test_routes_with_project_id(api):
    project = "0" * 32
    r = api.post(f"/v1/{project}/segments", SEGMENT)
    assert r.status_code == 201
    uuid = r.json()["segment"]["uuid"]
    assert api.get(f"/v1/{project}/segments/{uuid}").status_code == 200


def test_project_id_from_noauth_headers(api):
    r = api.get("/v1/abc123/segments", headers={"X-Project-Id": "abc123"})
    assert r.status_code == 200
    r = api.get("/v1/abc123/segments", headers={"X-Auth-Token": "someone:abc123"})
    assert r.status_code == 200


def test_project_id_mismatch_is_400(api):
    r = api.get("/v1/abcdef/segments", headers={"X-Project-Id": "123456"})
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == (
        "Malformed request URL: URL's project_id 'abcdef' doesn't match Context's project_id '123456'"
    )


def test_non_hex_project_id_is_plain_404(api):
    r = api.get("/v1/not_hex!/segments")
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/plain")


# ------------------------------------------------------------------ extensions


def test_extensions(api):
    r = api.get("/v1/extensions")
    aliases = [e["alias"] for e in r.json()["extensions"]]
    assert aliases == ["extensions", "notifications", "os-hosts", "segments", "versions", "vmoves"]
    one = api.get("/v1/extensions/os-hosts").json()["extension"]
    assert one["namespace"] == "" and one["updated"] == "" and one["links"] == []
    assert api.get("/v1/extensions/nope").status_code == 404


# ------------------------------------------------------------------ policy override file


@pytest.fixture
def policy_file(tmp_path, monkeypatch, api):
    """Write an operator policy file and point VIGIL_POLICY_FILE at it."""
    from shared.settings import get_settings

    def write(text: str) -> None:
        path = tmp_path / "policy.yaml"
        path.write_text(text)
        monkeypatch.setenv("VIGIL_POLICY_FILE", str(path))
        get_settings.cache_clear()
        policy.reset()

    yield write
    policy.reset()


@pytest.fixture
def denied(policy_file):
    """Segment creation and index denied (noauth callers are admin)."""
    policy_file('"os_masakari_api:segments:create": "!"\n"os_masakari_api:segments:index": "!"\n')


def test_policy_file_denies_with_403(api, denied):
    r = api.get("/v1/segments")
    assert r.status_code == 403
    assert r.json() == {
        "forbidden": {
            "code": 403,
            "message": "Policy doesn't allow os_masakari_api:segments:index to be performed.",
        }
    }
    assert api.get("/v1/").status_code == 200


def test_schema_error_comes_before_policy(api, denied):
    assert api.post("/v1/segments", {"segment": {}}).status_code == 400
    assert api.post("/v1/segments", SEGMENT).status_code == 403


# ------------------------------------------------------------------ extras outside /v1


def test_openapi_document_is_served(api):
    doc = api.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "/v1/segments/{segment_id}/hosts/{host_id}/health" in doc["paths"]
    assert "SegmentCreateV12" in doc["components"]["schemas"]


def test_values_the_database_refuses_are_400(api):
    assert api.get("/v1/segments/%00").status_code == 400
    assert api.get("/v1/notifications?status=%00").status_code == 400


def test_deeply_nested_json_is_400(api):
    data = "[" * 100000 + "]" * 100000
    r = api.request(
        "POST", "/v1/segments", data=data[:114000], headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400


def test_version_document_under_project_id(api):
    assert api.get(f"/v1/{'0' * 32}").json()["version"]["version"] == "1.4"
    assert api.get("/v1/abcdef", headers={"X-Project-Id": "123456"}).status_code == 400


def test_links_follow_the_forwarded_scheme(api):
    r = api.get("/", headers={"X-Forwarded-Proto": "https"})
    assert r.json()["versions"][0]["links"][0]["href"].startswith("https://")


def test_unexpected_failure_is_500_masakari_fault(api, policy_file):
    """A policy file the operator broke makes every rule check fail unexpectedly."""
    policy_file("os_masakari_api:segments:index: [unbalanced\n")
    r = api.get("/v1/segments")
    assert r.status_code == 500
    fault = r.json()["masakariFault"]
    assert fault["code"] == 500 and fault["message"].startswith("Unexpected API Error.")
    assert r.headers["x-openstack-request-id"] in fault["message"]
