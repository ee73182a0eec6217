"""What an operator applies is private, hardened, resolvable and keeps its secrets (issue 14).

Each rule passes on infra/knative as shipped and fails on a copy broken the way a careless edit
would break it.
"""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.deploy.manifest_checks import (
    ROOT,
    all_problems,
    broken,
    deployment,
    granted,
    image_problems,
    kubernetes_calls,
    rbac_problems,
    reachable_files,
    schema_problems,
    secret_problems,
    security_problems,
    visibility_problems,
)
from vigil.wiring import MANIFESTS, Manifests, load_manifests, parse_delivery


@pytest.fixture(scope="module")
def applied():
    return deployment()


def _pod(manifests: Manifests, kind: str, name: str) -> dict:
    return manifests.get(kind, name)["spec"]["template"]["spec"]


def _env(container: dict) -> dict:
    return {e["name"]: e.get("value") for e in container.get("env") or []}


def test_everything_a_release_applies_passes_the_strict_schemas_and_rules(applied):
    assert all_problems(applied) == []


def test_only_the_api_is_public_and_the_dead_letter_sink_is_its_own_service(applied):
    assert visibility_problems(applied) == []
    assert applied.service_names() == {"api", "monitor", "recover", "purge", "dead-letters"}
    for owner in [*applied.of_kind("Broker"), *applied.of_kind("Trigger")]:
        sink = owner["spec"]["delivery"]["deadLetterSink"]
        assert sink == {
            "ref": {
                "apiVersion": "serving.knative.dev/v1",
                "kind": "Service",
                "name": "dead-letters",
                "namespace": "vigil",
            }
        }, owner["metadata"]["name"]


@pytest.mark.parametrize("name", ["monitor", "recover", "purge", "dead-letters"])
def test_a_public_event_receiver_fails_the_visibility_check(applied, name):
    exposed = broken(applied, "Service", name, lambda d: d["metadata"]["labels"].clear())
    assert visibility_problems(exposed) == [
        f"Service/{name}: public; label it networking.knative.dev/visibility: cluster-local"
    ]


def test_every_container_runs_restricted_with_a_writable_tmp_and_resources(applied):
    assert security_problems(applied) == []


@pytest.mark.parametrize(
    ("kind", "name", "change", "expected"),
    [
        (
            "Service",
            "api",
            lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("securityContext"),
            "securityContext.runAsNonRoot must be true",
        ),
        (
            "Service",
            "recover",
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(
                readOnlyRootFilesystem=False
            ),
            "readOnlyRootFilesystem must be true",
        ),
        (
            "Service",
            "monitor",
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["securityContext"][
                "capabilities"
            ].update(add=["NET_ADMIN"]),
            "capabilities must drop ALL and add none",
        ),
        (
            "Service",
            "purge",
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["securityContext"].pop(
                "seccompProfile"
            ),
            "seccompProfile.type must be RuntimeDefault",
        ),
        (
            "Job",
            "vigil-db-upgrade-0-1-0",
            lambda d: d["spec"]["template"]["spec"].pop("volumes"),
            "/tmp must be an emptyDir",
        ),
        (
            "Service",
            "dead-letters",
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["env"].pop(4),
            "env HOME must point into the writable /tmp",
        ),
        (
            "Job",
            "vigil-db-upgrade-0-1-0",
            lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("resources"),
            "resources need cpu and memory requests",
        ),
    ],
)
def test_a_weakened_container_fails_the_security_check(applied, kind, name, change, expected):
    problems = security_problems(broken(applied, kind, name, change))
    assert any(expected in p for p in problems), problems


def test_every_image_is_a_registry_name_pinned_by_digest(applied):
    assert image_problems(applied) == []
    images = {c["image"] for _, pod in _pods(applied) for c in pod["containers"]}
    assert len(images) == 1  # one image, one digest, for the functions and the migration


def _pods(manifests):
    from tests.deploy.manifest_checks import pods

    return pods(manifests)


@pytest.mark.parametrize(
    "image",
    ["vigil:0.1.0", "vigil", "registry.example.org/vigil/vigil:0.1.0", "vigil@sha256:" + "a" * 64],
)
def test_an_unresolvable_image_reference_fails_the_image_check(applied, image):
    def retag(doc):
        doc["spec"]["template"]["spec"]["containers"][0]["image"] = image

    problems = image_problems(broken(applied, "Service", "recover", retag))
    assert problems and all("Service/recover" in p for p in problems), problems


def test_the_readme_tells_the_operator_to_set_the_digest_and_shows_the_push():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Deploying on Knative") :]
    assert "kustomize edit set image vigil=" in section
    assert "buildah push" in section or "docker push" in section


def test_the_default_resources_hold_no_secret_and_the_secrets_step_generates_them():
    default = load_manifests(MANIFESTS)
    assert secret_problems(default) == []
    secrets = load_manifests(MANIFESTS / "secrets")
    assert {s["metadata"]["name"]: set(s["data"]) for s in secrets.of_kind("Secret")} == {
        "vigil-database": {"url"},
        "vigil-clouds": {"clouds.yaml"},
    }
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert {"infra/knative/secrets/database-url", "infra/knative/secrets/clouds.yaml"} <= set(
        ignored
    )


def test_a_secret_in_the_default_resources_fails_the_secret_check():
    default = load_manifests(MANIFESTS)
    leaked = Manifests(
        [
            *default.docs,
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "vigil-database"}},
        ],
        default.files,
    )
    assert secret_problems(leaked) == [
        f"Secret/vigil-database: a Secret in the default resources ({', '.join(map(str, default.files))})"
    ]


def test_each_function_has_its_own_account_granting_exactly_what_its_code_calls(applied):
    assert rbac_problems(applied) == []
    assert kubernetes_calls(reachable_files("monitor")) == {
        ("", "nodes", "list"),
        ("", "nodes", "watch"),
        *(("coordination.k8s.io", "leases", verb) for verb in ("get", "list", "watch")),
    }
    for function in ("api", "recover", "purge", "deadletters"):
        assert kubernetes_calls(reachable_files(function)) == set(), function
    assert granted(applied, "vigil-monitor") == kubernetes_calls(reachable_files("monitor"))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda m: broken(
                m,
                "ClusterRole",
                "vigil-monitor-nodes",
                lambda d: d["rules"][0]["verbs"].append("patch"),
            ),
            "vigil-monitor may patch nodes, which its code never calls",
        ),
        (
            lambda m: broken(
                m,
                "Role",
                "vigil-monitor-node-leases",
                lambda d: d["rules"][0].update(verbs=["get"]),
            ),
            "its code calls list leases.coordination.k8s.io, watch leases.coordination.k8s.io, "
            "which vigil-monitor may not",
        ),
        (
            lambda m: broken(
                m,
                "Service",
                "api",
                lambda d: d["spec"]["template"]["spec"].update(serviceAccountName="vigil-monitor"),
            ),
            "shares ServiceAccount vigil-monitor",
        ),
        (
            lambda m: broken(
                m,
                "Service",
                "purge",
                lambda d: d["spec"]["template"]["spec"].pop("automountServiceAccountToken"),
            ),
            None,  # the account itself still says no token: no problem
        ),
        (
            lambda m: broken(
                broken(
                    m,
                    "Service",
                    "recover",
                    lambda d: d["spec"]["template"]["spec"].pop("automountServiceAccountToken"),
                ),
                "ServiceAccount",
                "vigil-recover",
                lambda d: d.pop("automountServiceAccountToken"),
            ),
            "Service/recover: needs no Kubernetes access; set automountServiceAccountToken: false",
        ),
    ],
)
def test_rbac_beyond_or_short_of_the_code_fails_the_rbac_check(applied, change, expected):
    problems = rbac_problems(change(applied))
    if expected is None:
        assert problems == []
    else:
        assert any(expected in p for p in problems), problems


def test_recovery_budget_graceful_shutdown_and_delivery_timeout_agree(applied):
    recover = _pod(applied, "Service", "recover")
    timeout = recover["timeoutSeconds"]
    budget = int(applied.config_env()["VIGIL_RECOVERY_TIME_BUDGET"])
    graceful = int(_env(recover["containers"][0])["GRACEFUL_TIMEOUT"])
    assert budget + 60 == timeout  # the ConfigMap's comment: hand off 60 s before the timeout
    assert budget <= graceful < timeout  # SIGTERM lets an attempt use its budget, inside the grace
    delivery = parse_delivery(applied.get("Trigger", "recover")["spec"]["delivery"])
    assert delivery.timeout == timeout
    comment = (MANIFESTS / "services.yaml").read_text()
    assert f"timeoutSeconds {timeout} = VIGIL_RECOVERY_TIME_BUDGET {budget} + 60" in comment
    assert f"GRACEFUL_TIMEOUT {graceful}" in comment
    for service in applied.services():
        pod = service["spec"]["template"]["spec"]
        grace = int(_env(pod["containers"][0])["GRACEFUL_TIMEOUT"])
        assert grace <= pod["timeoutSeconds"], service["metadata"]["name"]


def test_the_image_cmd_passes_the_graceful_timeout_to_gunicorn():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert '--graceful-timeout \\"${GRACEFUL_TIMEOUT' in dockerfile


def test_the_migration_job_is_named_for_this_release_and_bounded():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    [job] = load_manifests(MANIFESTS / "migrate").of_kind("Job")
    assert job["metadata"]["name"] == "vigil-db-upgrade-" + re.sub(r"[^a-z0-9]+", "-", version)
    assert job["metadata"]["labels"]["app.kubernetes.io/version"] == version
    assert 0 < job["spec"]["activeDeadlineSeconds"] <= 3600
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["vigil", "db", "upgrade"]
    assert load_manifests(MANIFESTS).of_kind("Job") == []  # its own step, before the Services


def test_a_durable_broker_is_one_line_away():
    kustomization = (MANIFESTS / "kustomization.yaml").read_text()
    assert "  # - components/kafka-broker\n" in kustomization
    kafka = load_manifests(MANIFESTS, ["components/kafka-broker"])
    broker = kafka.get("Broker", "vigil")
    assert broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == "Kafka"
    assert broker["spec"]["delivery"]["retry"] == 5  # the patch keeps the delivery spec
    assert schema_problems(broker) == []
