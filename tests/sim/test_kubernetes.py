"""Kubernetes side of the simulated region, driven by the official kubernetes client."""

from __future__ import annotations

import json

import pytest
import requests
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


@pytest.fixture
def core(region):
    api_client = config.new_client_from_config(config_file=region.kubeconfig)
    yield client.CoreV1Api(api_client)
    api_client.close()


def ready(node) -> str:
    return next(c.status for c in node.status.conditions if c.type == "Ready")


def lease_renewed(core, name):
    return (
        client.CoordinationV1Api(core.api_client)
        .read_namespaced_lease(name, "kube-node-lease")
        .spec.renew_time
    )


def test_every_host_is_a_ready_node_with_a_lease(region, core):
    nodes = core.list_node().items
    assert sorted(n.metadata.name for n in nodes) == region.hosts
    assert all(ready(n) == "True" for n in nodes)
    leases = (
        client.CoordinationV1Api(core.api_client).list_namespaced_lease("kube-node-lease").items
    )
    assert sorted(lease.metadata.name for lease in leases) == region.hosts
    assert all(lease.spec.lease_duration_seconds == 40 for lease in leases)


def test_label_selectors_filter_nodes(region, core):
    core.patch_node("compute-001", {"metadata": {"labels": {"zone": "a"}}})
    core.patch_node("compute-002", {"metadata": {"labels": {"zone": "b"}}})
    assert [n.metadata.name for n in core.list_node(label_selector="zone=a").items] == [
        "compute-001"
    ]
    assert len(core.list_node(label_selector="zone in (a,b)").items) == 2
    assert len(core.list_node(label_selector="zone!=a").items) == 7
    assert len(core.list_node(label_selector="!zone").items) == 6
    assert len(core.list_node(label_selector="zone,kubernetes.io/os=linux").items) == 2


def test_lease_renews_every_ten_seconds_while_the_kubelet_is_up(region, core):
    first = lease_renewed(core, "compute-000")
    region.sleep(21)
    later = lease_renewed(core, "compute-000")
    assert (later - first).total_seconds() >= 20


def test_powered_off_host_lease_stops_and_node_turns_unknown_after_grace(region, core):
    region.power_off("compute-003")
    stopped = lease_renewed(core, "compute-003")
    region.sleep(30)
    assert lease_renewed(core, "compute-003") == stopped
    assert ready(core.read_node("compute-003")) == "True"  # still inside the 50 s grace
    region.sleep(35)
    node = core.read_node("compute-003")
    assert ready(node) == "Unknown"
    assert {(t.key, t.effect) for t in node.spec.taints} == {
        ("node.kubernetes.io/unreachable", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
    }
    assert ready(core.read_node("compute-004")) == "True"
    region.power_on("compute-003")
    node = core.read_node("compute-003")
    assert ready(node) == "True" and not node.spec.taints
    assert lease_renewed(core, "compute-003") > stopped


def test_stopping_only_the_kubelet_leaves_nova_up(region, core):
    region.stop_service("compute-005", "kubelet")
    region.sleep(65)
    assert ready(core.read_node("compute-005")) == "Unknown"
    assert region.service("compute-005")["state"] == "up"


def test_watch_reports_the_node_going_unknown(region, core):
    region.power_off("compute-006")
    seen = []
    stream = watch.Watch()
    for event in stream.stream(
        core.list_node, label_selector="kubernetes.io/hostname=compute-006", timeout_seconds=5
    ):
        seen.append((event["type"], ready(event["object"])))
        if ready(event["object"]) == "Unknown":
            stream.stop()
    assert seen[0] == ("ADDED", "True") and seen[-1] == ("MODIFIED", "Unknown")


def test_watch_from_a_resource_version_sends_only_later_changes(region, core):
    listed = core.list_node()
    core.patch_node("compute-002", {"metadata": {"labels": {"changed": "yes"}}})
    stream = watch.Watch()
    events = []
    for event in stream.stream(
        core.list_node, resource_version=listed.metadata.resource_version, timeout_seconds=2
    ):
        events.append((event["type"], event["object"].metadata.name))
        stream.stop()
    assert events == [("MODIFIED", "compute-002")]


def test_taints_patched_by_strategic_merge_merge_patch_and_json_patch(region, core):
    taint = {"key": "vigil/recovering", "value": "yes", "effect": "NoSchedule"}
    core.patch_node("compute-000", {"spec": {"taints": [taint]}})
    assert [(t.key, t.value) for t in core.read_node("compute-000").spec.taints] == [
        ("vigil/recovering", "yes")
    ]
    url = f"{region.kubernetes_url}/api/v1/nodes/compute-000"
    reply = requests.patch(
        url,
        json={"metadata": {"labels": {"a": "1"}}, "spec": {"taints": None}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert reply.status_code == 200 and "taints" not in reply.json()["spec"]
    core.patch_node(
        "compute-000",
        [
            {"op": "add", "path": "/spec/taints", "value": [taint]},
            {"op": "remove", "path": "/metadata/labels/a"},
        ],
    )
    node = core.read_node("compute-000")
    assert "a" not in node.metadata.labels and node.spec.taints[0].key == "vigil/recovering"


def test_out_of_service_taint_is_applied(region, core):
    region.taint_out_of_service("compute-007")
    taints = core.read_node("compute-007").spec.taints
    assert [(t.key, t.effect) for t in taints] == [
        ("node.kubernetes.io/out-of-service", "NoExecute")
    ]


def test_invalid_taint_is_422_status_object(region, core):
    with pytest.raises(ApiException) as err:
        core.patch_node("compute-000", {"spec": {"taints": [{"key": "x", "effect": "Sometimes"}]}})
    assert err.value.status == 422
    body = json.loads(err.value.body)
    assert body["kind"] == "Status" and body["reason"] == "Invalid"


def test_unknown_node_is_404_and_bad_selector_is_400(region, core):
    with pytest.raises(ApiException) as err:
        core.read_node("ghost")
    assert err.value.status == 404
    reply = requests.get(f"{region.kubernetes_url}/api/v1/nodes", params={"labelSelector": "a b c"})
    assert reply.status_code == 400 and reply.json()["kind"] == "Status"


def test_unsupported_patch_media_type_is_415(region):
    reply = requests.patch(
        f"{region.kubernetes_url}/api/v1/nodes/compute-000",
        data=b"{}",
        headers={"Content-Type": "text/plain"},
    )
    assert reply.status_code == 415 and reply.json()["reason"] == "UnsupportedMediaType"


def test_kubectl_style_table_shows_not_ready_nodes(region):
    region.power_off("compute-001")
    region.sleep(65)
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    table = requests.get(f"{region.kubernetes_url}/api/v1/nodes", headers={"Accept": accept}).json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name",
        "Status",
        "Roles",
        "Age",
        "Version",
    ]
    status = {row["cells"][0]: row["cells"][1] for row in table["rows"]}
    assert status["compute-001"] == "NotReady" and status["compute-000"] == "Ready"


def test_watch_from_a_forgotten_resource_version_gets_410_expired(region):
    first = region.node("compute-000")["resource_version"]
    for _ in range(20001):  # more changes than the region keeps for watches
        region.taint_out_of_service("compute-000")
        region.kubernetes.remove_taint("compute-000", "node.kubernetes.io/out-of-service")
    reply = requests.get(
        f"{region.kubernetes_url}/api/v1/nodes",
        params={"watch": "true", "resourceVersion": first, "timeoutSeconds": "1"},
    )
    event = json.loads(reply.text.splitlines()[0])
    assert event["type"] == "ERROR" and event["object"]["code"] == 410
