"""Segments (api.md §8) and the list rules of §7, over HTTP."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.db import get_engine, session_scope
from shared.models import Host, Notification, Segment
from tests.api.conftest import add_host, add_segment

UUID = "0d5d8c8f-3e3a-4a8f-9b0e-7a1c2d3e4f50"


def seg(name="segment-a", **kw):
    return {"segment": {"name": name, "recovery_method": "auto", "service_type": "COMPUTE", **kw}}


def create(api, name="segment-a", version="1.2", **kw):
    r = api.post("/v1/segments", seg(name, **kw), version=version)
    assert r.status_code == 201, r.text
    return r.json()["segment"]


def message(r, fault="badRequest"):
    return r.json()[fault]["message"]


def test_create_segment_returns_every_field(api, sink):
    r = api.post("/v1/segments", seg(description="first"))
    assert r.status_code == 201
    assert "Location" not in r.headers
    s = r.json()["segment"]
    assert set(s) == {
        "id",
        "uuid",
        "name",
        "description",
        "recovery_method",
        "service_type",
        "enabled",
        "created_at",
        "updated_at",
        "deleted",
        "deleted_at",
    }
    assert s["enabled"] is True and s["deleted"] is False and s["updated_at"] is None
    assert s["created_at"].endswith(".000000")
    assert sink.types() == ["segment.create.start", "segment.create.end"]
    assert sink.events[1]["subject"] == s["uuid"] and sink.events[1].data["id"] == s["id"]
    assert sink.events[1]["priority"] == "INFO"


def test_enabled_needs_microversion_1_2(api):
    for version in (None, "1.0", "1.1"):
        r = api.post("/v1/segments", seg(enabled=False), version=version)
        assert r.status_code == 400
        assert message(r).endswith(
            "Additional properties are not allowed ('enabled' was unexpected)"
        )
        assert message(r).startswith("Invalid input for field/attribute segment. Value: {")
    assert create(api, enabled="off")["enabled"] is False


def test_update_parses_enabled_strictly(api):
    s = create(api)
    r = api.put(f"/v1/segments/{s['uuid']}", {"segment": {"enabled": "false"}}, version="1.2")
    assert r.status_code == 200 and r.json()["segment"]["enabled"] is False
    r = api.put(f"/v1/segments/{s['uuid']}", {"segment": {"enabled": "maybe"}}, version="1.2")
    assert r.status_code == 400
    r = api.put(f"/v1/segments/{s['uuid']}", {"segment": {"enabled": True}}, version="1.1")
    assert r.status_code == 400


@pytest.mark.parametrize(
    "body, text",
    [
        (
            seg(" padded"),
            "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.",
        ),
        (seg(""), "Invalid input for field/attribute name. Value: . '' is too short"),
        (seg("x" * 256), "is too long"),
        (
            seg(recovery_method="manual"),
            "'manual' is not one of ['auto', 'reserved_host', 'auto_priority', 'rh_priority']",
        ),
        (
            {"segment": {"name": "a", "service_type": "C"}},
            "Invalid input for field/attribute segment. Value: {'name': 'a', 'service_type': 'C'}. 'recovery_method' is a required property",
        ),
        ({"segmentx": {}}, "'segment' is a required property"),
        (
            {"segment": seg()["segment"], "x": 1},
            "Additional properties are not allowed ('x' was unexpected)",
        ),
        (
            seg(description=5),
            "Invalid input for field/attribute description. Value: 5. 5 is not of type 'string', 'null'",
        ),
        ([], "[] is not of type 'object'"),
    ],
)
def test_create_schema_errors(api, body, text):
    r = api.post("/v1/segments", body)
    assert r.status_code == 400
    assert text in message(r)
    with session_scope() as session:
        assert session.scalars(select(Segment)).first() is None


def test_empty_update_is_400(api):
    s = create(api)
    r = api.put(f"/v1/segments/{s['uuid']}", {"segment": {}})
    assert (
        message(r)
        == "Invalid input for field/attribute segment. Value: {}. {} is not valid under any of the given schemas"
    )


def test_duplicate_name_is_409_and_reusable_after_delete(api, sink):
    s = create(api)
    r = api.post("/v1/segments", seg())
    assert r.status_code == 409
    assert (
        message(r, "conflictingRequest") == "Failover segment with name segment-a already exists."
    )
    assert sink.types()[-1] == "segment.create.error"
    assert (
        sink.events[-1]["priority"] == "ERROR"
        and sink.events[-1].data["fault"]["exception"] == "SegmentExists"
    )
    other = create(api, "segment-b")
    r = api.put(f"/v1/segments/{other['uuid']}", {"segment": {"name": "segment-a"}})
    assert r.status_code == 409
    assert api.delete(f"/v1/segments/{s['uuid']}").status_code == 204
    create(api)


def test_get_update_delete_segment(api):
    s = create(api)
    r = api.get(f"/v1/segments/{s['uuid']}")
    assert r.status_code == 200 and r.json()["segment"] == s
    r = api.put(
        f"/v1/segments/{s['uuid']}", {"segment": {"description": "two\nlines", "name": "renamed"}}
    )
    updated = r.json()["segment"]
    assert updated["description"] == "two\nlines" and updated["name"] == "renamed"
    assert updated["updated_at"] is not None
    r = api.delete(f"/v1/segments/{s['uuid']}")
    assert r.status_code == 204 and r.content == b""
    assert r.headers["Content-Type"] == "application/json"
    assert api.get(f"/v1/segments/{s['uuid']}").status_code == 404


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("segment_id", [UUID, "not-a-uuid"])
def test_unknown_segment_is_404(api, method, segment_id):
    r = api.request(
        method,
        f"/v1/segments/{segment_id}",
        {"segment": {"name": "x"}} if method == "PUT" else None,
    )
    assert r.status_code == 404
    assert r.json() == {
        "itemNotFound": {"code": 404, "message": f"No failover segment with id {segment_id}."}
    }


def test_segment_action_is_405(api):
    s = create(api)
    r = api.post(f"/v1/segments/{s['uuid']}/action", {"x": 1})
    assert r.status_code == 405
    assert (
        message(r, "badMethod")
        == "The request method: 'POST' with action: 'action' is not allowed on this resource"
    )


def test_patch_is_plain_404(api):
    s = create(api)
    r = api.request("PATCH", f"/v1/segments/{s['uuid']}", {"segment": {}})
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/plain")


def _busy(segment_uuid, status):
    segment = Segment(uuid=segment_uuid)
    host = add_host(segment, "busy-host")
    with session_scope() as session:
        session.add(
            Notification(
                notification_uuid=UUID,
                generated_time=host.created_at,
                type="COMPUTE_HOST",
                payload={},
                status=status,
                source_host_uuid=host.uuid,
                failover_segment_uuid=segment_uuid,
                created_at=host.created_at,
                deleted=0,
            )
        )
    return host


@pytest.mark.parametrize("status", ["new", "running", "error"])
def test_segment_in_use_refuses_update_and_delete(api, status):
    s = create(api)
    _busy(s["uuid"], status)
    r = api.put(f"/v1/segments/{s['uuid']}", {"segment": {"description": "x"}})
    assert r.status_code == 409
    assert message(r, "conflictingRequest") == (
        f"Failover segment {s['uuid']} can't be updated as it is in-use to process notifications."
    )
    r = api.delete(f"/v1/segments/{s['uuid']}")
    assert message(r, "conflictingRequest") == (
        f"Failover segment ({s['uuid']}) can't be deleted as it is in-use to process notifications."
    )


@pytest.mark.parametrize("method", ["put", "delete"])
def test_change_racing_a_notification_being_created_waits_and_then_is_409(api, method):
    s = create(api)
    host = add_host(Segment(uuid=s["uuid"]), "racing-host")
    # What create_notification does: lock the host row, insert `new`, commit a moment later.
    creating = Session(get_engine())
    creating.execute(select(Host).where(Host.id == host.id).with_for_update())
    creating.add(
        Notification(
            notification_uuid=UUID,
            generated_time=host.created_at,
            type="COMPUTE_HOST",
            payload={},
            status="new",
            source_host_uuid=host.uuid,
            failover_segment_uuid=s["uuid"],
            created_at=host.created_at,
            deleted=0,
        )
    )
    creating.flush()
    answer = {}
    path = f"/v1/segments/{s['uuid']}"
    call = (
        (lambda: api.put(path, {"segment": {"description": "x"}}))
        if method == "put"
        else (lambda: api.delete(path))
    )
    change = threading.Thread(target=lambda: answer.update(response=call()))
    change.start()
    change.join(1.0)
    try:
        assert change.is_alive(), "the change must wait for the notification being created"
    finally:
        creating.commit()
        creating.close()
    change.join(10)
    assert answer["response"].status_code == 409
    with session_scope() as session:
        assert session.get(Host, host.id).deleted == 0


def test_finished_notifications_do_not_block(api):
    s = create(api)
    _busy(s["uuid"], "finished")
    assert (
        api.put(f"/v1/segments/{s['uuid']}", {"segment": {"description": "x"}}).status_code == 200
    )


def test_delete_segment_soft_deletes_its_hosts(api):
    s = create(api)
    host = add_host(Segment(uuid=s["uuid"]), "compute-9")
    assert api.delete(f"/v1/segments/{s['uuid']}").status_code == 204
    with session_scope() as session:
        row = session.get(Host, host.id)
        segment = session.scalars(select(Segment)).one()
    assert row.deleted == row.id and row.deleted_at is not None and row.updated_at is None
    assert segment.deleted == segment.id


# ------------------------------------------------------------------ lists (§7)


def names(api, query="", version=None):
    r = api.get("/v1/segments" + query, version=version)
    assert r.status_code == 200, r.text
    return [s["name"] for s in r.json()["segments"]]


@pytest.fixture
def three(api):
    return [
        create(api, n, recovery_method=m, enabled=e)
        for n, m, e in (("b", "auto", True), ("a", "reserved_host", False), ("c", "auto", True))
    ]


def test_list_sorting(api, three):
    assert names(api) == ["c", "a", "b"]  # created_at desc, id desc
    assert names(api, "?sort_key=name&sort_dir=asc") == ["a", "b", "c"]
    assert names(api, "?sort_key=recovery_method&sort_key=name&sort_dir=desc&sort_dir=asc") == [
        "a",
        "b",
        "c",
    ]
    assert names(api, "?sort_key=name") == ["c", "b", "a"]


def test_list_filters(api, three):
    assert names(api, "?recovery_method=auto&sort_key=name&sort_dir=asc") == ["b", "c"]
    assert names(api, "?service_type=COMPUTE") == ["c", "a", "b"]
    assert names(api, "?enabled=False") == ["a"]
    assert names(api, "?enabled=true&sort_key=name&sort_dir=asc") == ["b", "c"]
    r = api.get("/v1/segments?enabled=maybe")
    assert message(r) == (
        "Invalid value for enabled: Unrecognized value 'maybe', acceptable values are: "
        "'0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
    )


def test_pagination_by_integer_id_or_uuid(api, three):
    ids = {s["name"]: s for s in three}
    assert names(api, f"?sort_key=name&sort_dir=asc&limit=1&marker={ids['a']['id']}") == ["b"]
    assert names(api, f"?sort_key=name&sort_dir=asc&marker={ids['a']['uuid']}") == ["b", "c"]
    assert names(api, "?limit=0") == []
    assert names(api, "?limit=2") == ["c", "a"]
    r = api.get("/v1/segments?marker=999")
    assert message(r) == "Marker 999 could not be found."
    r = api.get("/v1/segments?marker=%C2%B2")  # a digit to Python, not an integer id
    assert (r.status_code, message(r)) == (400, "Marker \u00b2 could not be found.")


def test_pagination_with_nullable_sort_key_visits_every_row(api, three):
    api.put(f"/v1/segments/{three[0]['uuid']}", {"segment": {"description": "x"}})
    seen, marker = [], None
    while True:
        query = "?sort_key=updated_at&limit=1" + (f"&marker={marker}" if marker else "")
        page = api.get("/v1/segments" + query).json()["segments"]
        if not page:
            break
        seen.append(page[0]["name"])
        marker = page[0]["id"]
    assert sorted(seen) == ["a", "b", "c"] and seen[0] == "b"  # descending: NULLs last


@pytest.mark.parametrize(
    "query, text",
    [
        ("?limit=x", "Invalid input received: limit must be an integer"),
        ("?limit=-1", "Invalid input received: limit must be >= 0"),
        ("?sort_dir=up", "Invalid input received: Unknown sort direction, must be 'asc' or 'desc'"),
        (
            "?sort_key=name&sort_dir=asc&sort_dir=desc",
            "Invalid input received: Sort direction size exceeds sort key size",
        ),
        ("?sort_key=lease_owner", "InvalidSortKey('Sort key supplied is invalid: lease_owner')"),
    ],
)
def test_list_parameter_errors(api, query, text):
    r = api.get("/v1/segments" + query)
    assert r.status_code == 400 and message(r) == text


def test_limit_is_capped_by_osapi_max_limit(api, three, monkeypatch):
    from shared.settings import get_settings

    monkeypatch.setenv("VIGIL_OSAPI_MAX_LIMIT", "2")
    get_settings.cache_clear()
    assert len(names(api)) == 2 and len(names(api, "?limit=50")) == 2


def test_unknown_query_parameters_are_ignored(api, three):
    assert len(names(api, "?foo=bar")) == 3


def test_deleted_rows_are_invisible(api, three):
    api.delete(f"/v1/segments/{three[0]['uuid']}")
    assert sorted(names(api)) == ["a", "c"]
    r = api.get(f"/v1/segments?marker={three[0]['id']}")
    assert r.status_code == 400


def test_add_segment_helper_row_is_listed(api):
    add_segment("direct")
    assert names(api) == ["direct"]


def test_unknown_key_is_reported_before_missing_ones_on_create(api):
    r = api.post("/v1/segments", {"segment": {"enabled": False}}, version="1.1")
    assert message(r) == (
        "Invalid input for field/attribute segment. Value: {'enabled': False}. "
        "Additional properties are not allowed ('enabled' was unexpected)"
    )


def test_filter_errors_come_before_sort_errors(api):
    r = api.get("/v1/segments?sort_dir=sideways&enabled=maybe")
    assert message(r).startswith("Invalid value for enabled:")
    r = api.get("/v1/segments?sort_dir=sideways&limit=x")
    assert message(r) == "Invalid input received: limit must be an integer"
