"""infra/knative passes what a cluster would check at apply time, and a broken copy does not."""

from __future__ import annotations

import pytest

from tests.deploy.manifest_checks import (
    SCHEMAS,
    all_problems,
    broken,
    crd_schemas,
    deployment,
    rule_problems,
    schema_problems,
    vigil_event_types,
)


@pytest.fixture(scope="module")
def manifests():
    return deployment()


def test_official_crds_are_present():
    kinds = {kind for (_, _, kind) in crd_schemas()}
    assert {
        "Service",
        "Broker",
        "Trigger",
        "PingSource",
        "SinkBinding",
        "ApiServerSource",
    } <= kinds, SCHEMAS


def test_every_manifest_including_optional_components_passes_schemas_and_rules(manifests):
    assert all_problems(manifests) == []


def test_the_kustomization_defines_what_the_deployment_needs(manifests):
    kinds = [d["kind"] for d in manifests.docs]
    assert manifests.service_names() == {"api", "monitor", "recover", "purge", "dead-letters"}
    for kind in (
        "Broker",
        "Trigger",
        "PingSource",
        "SinkBinding",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Job",
        "Secret",
        "ApiServerSource",
    ):
        assert kind in kinds, kind
    rules = manifests.get("ClusterRole", "vigil-monitor-nodes")["rules"]
    assert rules[0]["resources"] == ["nodes"]
    lease_role = manifests.get("Role", "vigil-monitor-node-leases")
    assert lease_role["metadata"]["namespace"] == "kube-node-lease"
    assert manifests.get("Job", "vigil-db-upgrade-0-1-0")["spec"]["template"]["spec"]["containers"][
        0
    ]["command"] == ["vigil", "db", "upgrade"]


def test_recover_is_never_cold_and_purge_scales_to_zero(manifests):
    def annotations(name):
        return manifests.get("Service", name)["spec"]["template"]["metadata"]["annotations"]

    assert annotations("recover")["autoscaling.knative.dev/min-scale"] == "1"
    assert manifests.get("Service", "recover")["spec"]["template"]["spec"]["timeoutSeconds"] == 600
    assert annotations("purge")["autoscaling.knative.dev/min-scale"] == "0"


def test_recovery_trigger_routes_the_recovery_type_to_recover_with_dead_letters(manifests):
    trigger = manifests.get("Trigger", "recover")
    prefix = manifests.config_env()["VIGIL_EVENT_TYPE_PREFIX"]
    assert (
        trigger["spec"]["filter"]["attributes"]["type"] == f"{prefix}.internal.recovery.requested"
    )
    assert trigger["spec"]["subscriber"]["ref"]["name"] == "recover"
    dls = trigger["spec"]["delivery"]["deadLetterSink"]
    assert (dls["ref"]["name"], dls.get("uri")) == ("dead-letters", None)


def test_sinkbinding_gives_k_sink_to_the_publishers_only(manifests):
    assert set(manifests.sink_bound()) == {"api", "monitor", "recover"}


def test_vigil_emits_24_catalogue_types_and_the_trigger():
    assert len(vigil_event_types("org.example.vigil")) == 25


@pytest.mark.parametrize(
    ("kind", "name", "change", "expected"),
    [
        (
            "PingSource",
            "monitor-tick",
            lambda d: d["spec"].update(schedule="*/5 * * *"),
            "spec.schedule",
        ),
        (
            "PingSource",
            "purge-tick",
            lambda d: d["spec"].update(schedule="17 25 * * *"),
            "not a valid cron",
        ),
        (
            "PingSource",
            "sweep-tick",
            lambda d: d["spec"].update(timezone="Mars/Olympus"),
            "unknown time zone",
        ),
        (
            "PingSource",
            "sweep-tick",
            lambda d: d["spec"].pop("schedule"),
            "spec.schedule is missing",
        ),
        (
            "Trigger",
            "recover",
            lambda d: d["spec"]["filter"]["attributes"].update(
                type="org.openstack.vigil.recovery.requested"
            ),
            "nothing in Vigil emits",
        ),
        (
            "Trigger",
            "recover",
            lambda d: d["spec"]["subscriber"]["ref"].update(name="recovery"),
            "Service 'recovery', which is not defined",
        ),
        (
            "Trigger",
            "recover",
            lambda d: d["spec"]["delivery"].update(backoffDelay="1s"),
            "not an ISO 8601 duration",
        ),
        (
            "Trigger",
            "recover",
            lambda d: d["spec"]["delivery"].update(backoffPolicy="fibonacci"),
            "backoffPolicy",
        ),
        (
            "Trigger",
            "recover",
            lambda d: d["spec"]["delivery"].update(retries=3),
            "unknown delivery field",
        ),
        (
            "Trigger",
            "recover",
            lambda d: d["spec"].update(broker="default"),
            "not a defined Broker",
        ),
        (
            "Trigger",
            "recover",
            lambda d: d["spec"]["delivery"].pop("deadLetterSink"),
            "deadLetterSink",
        ),
        (
            "Broker",
            "vigil",
            lambda d: d["spec"]["delivery"].update(backoffDelay="PT"),
            "not an ISO 8601 duration",
        ),
        (
            "PingSource",
            "purge-tick",
            lambda d: d["spec"]["sink"]["ref"].update(name="purger"),
            "Service 'purger', which is not defined",
        ),
        (
            "SinkBinding",
            "vigil-publishers",
            lambda d: d["spec"]["sink"]["ref"].update(name="default"),
            "Broker 'default'",
        ),
        (
            "SinkBinding",
            "vigil-publishers",
            lambda d: d["spec"].pop("subject"),
            "matches no defined Service",
        ),
        (
            "PingSource",
            "monitor-tick",
            lambda d: d["spec"]["sink"]["ref"].pop("name"),
            "Service None, which is not defined",
        ),
        (
            "Service",
            "recover",
            lambda d: d["spec"]["template"]["spec"].update(timeoutSeconds=3600),
            "timeoutSeconds",
        ),
        (
            "Service",
            "api",
            lambda d: d["spec"]["template"]["spec"].update(containerConcurrency=5000),
            "containerConcurrency",
        ),
        (
            "Service",
            "purge",
            lambda d: d["spec"]["template"]["metadata"]["annotations"].update(
                {"autoscaling.knative.dev/min-scale": "none"}
            ),
            "min-scale",
        ),
        (
            "Service",
            "monitor",
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["env"][0].update(
                value="monitors"
            ),
            "env FUNCTION",
        ),
        (
            "Service",
            "api",
            lambda d: d["spec"]["template"]["spec"].update(serviceAccountName="nobody"),
            "serviceAccountName",
        ),
        (
            "Service",
            "recover",
            lambda d: d["spec"]["template"]["spec"].update(containerConcurrency=50),
            "env THREADS",
        ),
        (
            "Job",
            "vigil-db-upgrade-0-1-0",
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["env"][1]["valueFrom"][
                "secretKeyRef"
            ].update(key="uri"),
            "not defined",
        ),
        (
            "ApiServerSource",
            "node-changes",
            lambda d: d["spec"].update(mode="Everything"),
            "spec.mode",
        ),
    ],
)
def test_broken_manifest_fails_the_rules(manifests, kind, name, change, expected):
    problems = rule_problems(broken(manifests, kind, name, change))
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("kind", "name", "change", "expected"),
    [
        (
            "Service",
            "recover",
            lambda d: d["spec"]["template"]["spec"].update(containerConcurency=4),
            "containerConcurency",
        ),
        (
            "Service",
            "api",
            lambda d: d["spec"]["template"]["spec"].update(timeoutSeconds="ten"),
            "timeoutSeconds",
        ),
        (
            "PingSource",
            "monitor-tick",
            lambda d: d["spec"].update(schedule=5),
            "is not of type 'string'",
        ),
        (
            "PingSource",
            "monitor-tick",
            lambda d: d["spec"].update(data={"tick": "monitor"}),
            "spec.data",
        ),
        (
            "Broker",
            "vigil",
            lambda d: d["spec"]["delivery"].update(retry="five"),
            "spec.delivery.retry",
        ),
        (
            "Job",
            "vigil-db-upgrade-0-1-0",
            lambda d: d["spec"].update(backofLimit=3),
            "backofLimit",
        ),
        (
            "ClusterRole",
            "vigil-monitor-nodes",
            lambda d: d["rules"][0].update(verbs="get"),
            "rules.0.verbs",
        ),
    ],
)
def test_broken_manifest_fails_the_schemas(manifests, kind, name, change, expected):
    copy_ = broken(manifests, kind, name, change)
    doc = next(d for d in copy_.docs if d["kind"] == kind and d["metadata"]["name"] == name)
    problems = schema_problems(doc)
    assert any(expected in p for p in problems), problems
