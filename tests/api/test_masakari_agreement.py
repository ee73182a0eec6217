"""Where api.md is silent, Vigil answers as masakari-api 22.0.0 does (issue 13's differential
steps; each expectation was read off a real masakari-api 22.0.0 on PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.api.conftest import add_host, add_segment

PLAIN_404 = "404 Not Found\n\nThe resource could not be found.\n\n"


def message(r, fault="badRequest"):
    return r.json()[fault]["message"]


def segment_names(api, query):
    r = api.get("/v1/segments" + query)
    assert r.status_code == 200, r.text
    return [s["name"] for s in r.json()["segments"]]


@pytest.fixture
def described(api):
    """Three segments, one without a description."""
    add_segment("none")
    add_segment("bee", description="b")
    add_segment("ant", description="a")


# ------------------------------------------------------------------ lists


def test_nullable_sort_key_puts_nulls_first_ascending_and_last_descending(api, described):
    assert segment_names(api, "?sort_key=description&sort_dir=asc") == ["none", "ant", "bee"]
    assert segment_names(api, "?sort_key=description&sort_dir=desc") == ["bee", "ant", "none"]


def test_pages_over_a_nullable_sort_key_follow_the_same_null_order(api, described):
    for direction, expected in (("asc", ["none", "ant", "bee"]), ("desc", ["bee", "ant", "none"])):
        seen, marker = [], None
        while True:
            query = f"?sort_key=description&sort_dir={direction}&limit=1"
            page = api.get("/v1/segments" + query + (f"&marker={marker}" if marker else ""))
            rows = page.json()["segments"]
            if not rows:
                break
            seen.append(rows[0]["name"])
            marker = rows[0]["uuid"]
        assert seen == expected


def test_sort_parameters_lose_surrounding_spaces(api, described):
    assert segment_names(api, "?sort_key=%20name%20&sort_dir=%20asc%20") == ["ant", "bee", "none"]
    r = api.get("/v1/segments?sort_key=%20bogus%20")
    assert message(r) == "InvalidSortKey('Sort key supplied is invalid: bogus')"


def test_limit_zero_is_an_empty_page_before_sort_and_marker_are_judged(api, described):
    assert segment_names(api, "?limit=0&sort_key=bogus&sort_dir=up") == []
    assert segment_names(api, "?limit=0&marker=nope") == []
    r = api.get("/v1/notifications?limit=0&sort_key=bogus")
    assert r.status_code == 200 and r.json() == {"notifications": []}


def test_page_size_that_is_not_an_integer_is_400(api):
    r = api.get("/v1/segments?page_size=x")
    assert r.status_code == 400
    assert message(r) == "Invalid input received: page_size must be an integer"
    assert api.get("/v1/segments?page_size=5").status_code == 200


@pytest.mark.parametrize(
    "key, text",
    [
        ("bogus", "InvalidSortKey('Sort key supplied is invalid: bogus')"),
        ("it's", 'InvalidSortKey("Sort key supplied is invalid: it\'s")'),
        ("a\\b", "InvalidSortKey('Sort key supplied is invalid: a\\\\b')"),
    ],
)
def test_invalid_sort_key_text_is_masakaris_exception_repr(api, key, text):
    r = api.get("/v1/notifications", params={"sort_key": key})
    assert r.status_code == 400 and message(r) == text


# ------------------------------------------------------------------ routes


@pytest.mark.parametrize(
    "method, path, action",
    [
        ("PUT", "/v1/notifications/n-1/vmoves/v-1", "update"),
        ("DELETE", "/v1/notifications/n-1/vmoves/v-1", "delete"),
        ("POST", "/v1/notifications/n-1/vmoves", "create"),
        ("PUT", "/v1/notifications/n-1", "update"),
        ("PUT", "/v1/notifications/n-1.json", "update"),
        ("POST", "/v1/extensions", "create"),
        ("PUT", "/v1/extensions/os-hosts", "update"),
        ("DELETE", "/v1/extensions/os-hosts", "delete"),
        ("GET", "/v1/segments/new", "new"),
        ("GET", "/v1/segments/new.json", "new"),
        ("GET", "/v1/notifications/n-1/vmoves/new", "new"),
        ("GET", "/v1/segments/s-1/edit", "edit"),
        ("GET", "/v1/segments/s-1/hosts/h-1/edit", "edit"),
        ("POST", "/v1/notifications/n-1/action", "action"),
    ],
)
def test_method_masakari_maps_without_an_action_is_405_bad_method(api, method, path, action):
    r = api.request(method, path)
    assert r.status_code == 405
    assert r.json() == {
        "badMethod": {
            "code": 405,
            "message": f"The request method: '{method}' with action: '{action}' is not allowed "
            "on this resource",
        }
    }


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/v1/notifications/n-1/vmoves/v-1"),
        ("PATCH", "/v1/notifications/n-1/vmoves/v-1"),
        ("PUT", "/v1/segments"),
        ("POST", "/v1/segments/s-1"),
        ("POST", "/v1/segments/s-1/hosts/h-1/action"),
        ("GET", "/v1/segments/"),
        ("GET", "/v1/notifications/"),
        ("GET", "/v1/extensions/"),
        ("GET", "/v1/segments/s-1/"),
        ("GET", "/v1/segments."),
    ],
)
def test_paths_masakari_does_not_route_are_its_plain_404(api, method, path):
    r = api.request(method, path)
    assert (r.status_code, r.text) == (404, PLAIN_404)


def test_version_document_still_answers_with_a_trailing_slash(api):
    assert api.get("/v1/").status_code == 200


def test_format_suffix_is_served_as_masakari_serves_it(api):
    segment = add_segment("seg")
    add_host(segment, "compute-0")
    listed = api.get("/v1/segments.json")
    assert listed.status_code == 200 and [s["name"] for s in listed.json()["segments"]] == ["seg"]
    shown = api.get(f"/v1/segments/{segment.uuid}.json")
    assert shown.status_code == 200 and shown.json()["segment"]["uuid"] == segment.uuid
    hosts = api.get(f"/v1/segments/{segment.uuid}/hosts.json").json()["hosts"]
    assert [h["name"] for h in hosts] == ["compute-0"]
    assert api.get("/v1/notifications.json").json() == {"notifications": []}
    assert api.get("/v1/extensions/os-hosts.json").json()["extension"]["alias"] == "os-hosts"
    # Only the last suffix goes: the rest stays part of the id.
    r = api.get(f"/v1/segments/{segment.uuid}.json.xml")
    assert message(r, "itemNotFound") == f"No failover segment with id {segment.uuid}.json."


# ------------------------------------------------------------------ texts


def base(**fields):
    notification = {
        "type": "VM",
        "hostname": "h1",
        "generated_time": "2026-01-01T00:00:00",
        "payload": {"event": "x"},
    }
    return {"notification": {**notification, **fields}}


PATTERN = "'^[a-zA-Z0-9-_:. ]{1,255}$'"


@pytest.mark.parametrize(
    "payload, text",
    [
        (
            {"bad key!": "v"},
            "Invalid input for field/attribute payload. Value: {'bad key!': 'v'}. "
            f"'bad key!' does not match any of the regexes: {PATTERN}",
        ),
        (
            {"z!": "v", "a!": "w"},
            "Invalid input for field/attribute payload. Value: {'z!': 'v', 'a!': 'w'}. "
            f"'a!', 'z!' do not match any of the regexes: {PATTERN}",
        ),
        (
            {"good": 1, "bad!": "v"},
            "Invalid input for field/attribute good. Value: 1. 1 is not of type 'string'",
        ),
    ],
)
def test_payload_keys_are_judged_by_the_key_pattern_in_masakaris_words(api, payload, text):
    r = api.post("/v1/notifications", base(payload=payload))
    assert r.status_code == 400 and message(r) == text


def test_type_enum_is_listed_in_masakaris_order(api):
    r = api.post("/v1/notifications", base(type="BAD"))
    assert message(r) == (
        "Invalid input for field/attribute type. Value: BAD. "
        "'BAD' is not one of ('COMPUTE_HOST', 'VM', 'PROCESS')"
    )


def test_extension_texts(api):
    shown = api.get("/v1/extensions/os-hosts").json()["extension"]
    assert shown["description"] == "Hosts controller"
    r = api.get("/v1/extensions/nope")
    assert r.status_code == 404
    assert r.json() == {
        "itemNotFound": {"code": 404, "message": "The resource could not be found."}
    }


@pytest.mark.parametrize(
    "value, status, words",
    [
        ("9" * 5000 + ".0", 406, "is not supported by the API. Minimum is 1.0"),
        ("1." + "9" * 5000, 406, "is not supported by the API. Minimum is 1.0"),
        ("1.0" + "0" * 5000, 400, "is of invalid format"),
        ("1.x" + "9" * 5000, 400, "is of invalid format"),
    ],
)
def test_version_numbers_of_thousands_of_digits_are_refused_without_echo(api, value, status, words):
    r = api.get("/v1/segments", headers={"OpenStack-API-Version": f"instance-ha {value}"})
    assert r.status_code == status
    assert words in r.text and len(r.text) < 400
