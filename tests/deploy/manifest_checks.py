"""What `kubectl apply --validate=strict` and Knative's admission webhooks would reject, offline.

Two layers: the schemas (Knative's official CRDs for Knative kinds, kubernetes-validate's bundled
core schemas for the rest, both strict about unknown fields), then the rules the schemas leave
open (SOURCES.txt beside the CRDs lists them): schedules, delivery values, which event types
exist, and whether every reference names something that is defined.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from vigil.wiring import (
    ROOT,
    Manifests,
    WiringError,
    load_manifests,
    parse_delivery,
    parse_schedule,
    subject_matches,
)

SCHEMAS = ROOT.parent / "shared" / "schemas" / "knative"
KNATIVE_GROUPS = ("knative.dev",)
CATALOGUE = [
    f"{resource}.{action}.{phase}"
    for resource, actions in (
        ("segment", ("create", "update", "delete")),
        ("host", ("create", "update", "delete")),
        ("notification", ("create", "process")),
    )
    for action in actions
    for phase in ("start", "end", "error")
]
RECOVERY_TRIGGER_SUFFIX = "internal.recovery.requested"
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def vigil_event_types(prefix: str) -> set[str]:
    """The 24 catalogue types and the recovery trigger (events.md §3, §4)."""
    return {f"{prefix}.{suffix}" for suffix in [*CATALOGUE, RECOVERY_TRIGGER_SUFFIX]}


def _strict(schema: Any) -> Any:
    """Reject unknown fields wherever the CRD does not preserve them (kubectl's strict mode)."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in schema
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@functools.cache
def crd_schemas() -> dict[tuple[str, str, str], dict]:
    """(group, version, kind) → strict openAPIV3Schema, from every CRD file in SCHEMAS."""
    found = {}
    for path in sorted(SCHEMAS.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                schema = (version.get("schema") or {}).get("openAPIV3Schema")
                if schema:
                    schema = copy.deepcopy(schema)
                    root = schema.setdefault("properties", {})
                    for field_name, field_type in (
                        ("apiVersion", "string"),
                        ("kind", "string"),
                        ("metadata", "object"),
                    ):
                        root.setdefault(field_name, {"type": field_type})
                    found[(spec["group"], version["name"], spec["names"]["kind"])] = _strict(schema)
    return found


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0]


def _name(doc: dict) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def schema_problems(doc: dict) -> list[str]:
    api_version = doc.get("apiVersion", "")
    group, _, version = api_version.rpartition("/")
    if group.endswith(KNATIVE_GROUPS):
        schema = crd_schemas().get((group, version, doc.get("kind")))
        if schema is None:
            return [f"{_name(doc)}: no CRD for {api_version} {doc.get('kind')} in {SCHEMAS}"]
        validator = jsonschema.Draft7Validator(schema)
        return [
            f"{_name(doc)}: {'.'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in validator.iter_errors(doc)
        ]
    try:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(map(str, getattr(exc, "absolute_path", ()))) or "(root)"
        return [f"{_name(doc)}: {path}: {_first_line(str(exc))}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"{_name(doc)}: {_first_line(str(exc))}"]
    return []


def _destinations(doc: dict) -> list[tuple[str, dict]]:
    """Every Knative Destination an object holds, with where it sits."""
    spec = doc.get("spec") or {}
    found = []
    if "sink" in spec:
        found.append(("spec.sink", spec["sink"]))
    if "subscriber" in spec:
        found.append(("spec.subscriber", spec["subscriber"]))
    dls = (spec.get("delivery") or {}).get("deadLetterSink")
    if dls is not None:
        found.append(("spec.delivery.deadLetterSink", dls))
    return found


def _emitted_by_sources(manifests: Manifests) -> set[str]:
    types = set()
    for source in manifests.of_kind("ApiServerSource"):
        mode = (source["spec"].get("mode") or "Reference").lower()
        kind = "resource" if mode == "resource" else "ref"
        types |= {f"dev.knative.apiserver.{kind}.{op}" for op in ("add", "update", "delete")}
    if manifests.of_kind("PingSource"):
        types.add("dev.knative.sources.ping")
    return types


def _check_service(service: dict, manifests: Manifests) -> list[str]:
    name = service["metadata"]["name"]
    where = f"Service/{name}"
    problems = []
    if not DNS_1035.match(name):
        problems.append(f"{where}: name is not a DNS-1035 label")
    template = service["spec"]["template"]
    spec = template["spec"]
    concurrency = spec.get("containerConcurrency", 0)
    if not isinstance(concurrency, int) or not 0 <= concurrency <= 1000:
        problems.append(f"{where}: containerConcurrency must be 0..1000")
    timeout = spec.get("timeoutSeconds", 300)
    if not isinstance(timeout, int) or not 1 <= timeout <= 600:
        problems.append(f"{where}: timeoutSeconds must be 1..600")
    for key, value in ((template.get("metadata") or {}).get("annotations") or {}).items():
        if key in ("autoscaling.knative.dev/min-scale", "autoscaling.knative.dev/max-scale"):
            if not re.fullmatch(r"\d+", str(value)):
                problems.append(
                    f"{where}: {key} must be a non-negative integer string, not {value!r}"
                )
    if spec.get("serviceAccountName"):
        if not any(
            sa["metadata"]["name"] == spec["serviceAccountName"]
            for sa in manifests.of_kind("ServiceAccount")
        ):
            problems.append(
                f"{where}: serviceAccountName {spec['serviceAccountName']!r} is not defined"
            )
    for container in spec.get("containers") or []:
        env = {e["name"]: e for e in container.get("env") or []}
        function = (env.get("FUNCTION") or {}).get("value")
        if not function or not (ROOT / "functions" / function).is_dir():
            problems.append(
                f"{where}: env FUNCTION must name a folder under functions/, not {function!r}"
            )
        signature = (env.get("SIGNATURE_TYPE") or {}).get("value")
        if signature not in ("http", "cloudevent"):
            problems.append(
                f"{where}: env SIGNATURE_TYPE must be http or cloudevent, not {signature!r}"
            )
        threads = (env.get("THREADS") or {}).get("value")
        if concurrency and (not str(threads).isdigit() or int(threads) < concurrency):
            problems.append(
                f"{where}: env THREADS must be at least containerConcurrency ({concurrency})"
            )
        problems += _check_env_refs(where, container, spec, manifests)
    return problems


def _check_env_refs(where: str, container: dict, pod: dict, manifests: Manifests) -> list[str]:
    problems = []
    secrets = {s["metadata"]["name"]: s for s in manifests.of_kind("Secret")}
    config_maps = {c["metadata"]["name"]: c for c in manifests.of_kind("ConfigMap")}
    for entry in container.get("env") or []:
        ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            secret = secrets.get(ref["name"])
            keys = set((secret or {}).get("stringData") or {}) | set(
                (secret or {}).get("data") or {}
            )
            if secret is None or ref["key"] not in keys:
                problems.append(
                    f"{where}: env {entry['name']} reads Secret {ref['name']}/{ref['key']}, which is not defined"
                )
    for source in container.get("envFrom") or []:
        name = (source.get("configMapRef") or {}).get("name")
        if name and name not in config_maps:
            problems.append(f"{where}: envFrom ConfigMap {name!r} is not defined")
    for volume in pod.get("volumes") or []:
        name = (volume.get("secret") or {}).get("secretName")
        if name and name not in secrets:
            problems.append(
                f"{where}: volume {volume['name']} mounts Secret {name!r}, which is not defined"
            )
    return problems


def rule_problems(manifests: Manifests) -> list[str]:
    """The checks the schemas leave open (SOURCES.txt), plus Vigil's own wiring rules."""
    problems: list[str] = []
    services = manifests.service_names()
    brokers = {b["metadata"]["name"] for b in manifests.of_kind("Broker")}
    try:
        prefix = manifests.config_env()["VIGIL_EVENT_TYPE_PREFIX"]
    except (WiringError, KeyError):
        problems.append("ConfigMap/vigil-config: VIGIL_EVENT_TYPE_PREFIX is not set")
        prefix = "org.openstack.vigil"
    known_types = vigil_event_types(prefix) | _emitted_by_sources(manifests)

    for service in manifests.services():
        problems += _check_service(service, manifests)
    for job in manifests.of_kind("Job"):
        pod = job["spec"]["template"]["spec"]
        for container in pod.get("containers") or []:
            problems += _check_env_refs(f"Job/{job['metadata']['name']}", container, pod, manifests)

    for doc in manifests.docs:
        for where, destination in _destinations(doc):
            ref = destination.get("ref")
            if ref is None:
                if not str(destination.get("uri", "")).startswith(("http://", "https://")):
                    problems.append(f"{_name(doc)}: {where} has no ref and no absolute uri")
                continue
            defined = {"Service": services, "Broker": brokers}.get(ref.get("kind"), set())
            if ref.get("name") not in defined:
                problems.append(
                    f"{_name(doc)}: {where} names {ref.get('kind')} {ref.get('name')!r}, which is not defined"
                )

    for owner in [*manifests.of_kind("Broker"), *manifests.of_kind("Trigger")]:
        delivery = (owner.get("spec") or {}).get("delivery")
        if delivery is None:
            continue
        try:
            parse_delivery(delivery)
        except WiringError as exc:
            problems.append(f"{_name(owner)}: {exc}")

    for trigger in manifests.of_kind("Trigger"):
        spec = trigger["spec"]
        where = _name(trigger)
        if spec.get("broker") not in brokers:
            problems.append(f"{where}: spec.broker {spec.get('broker')!r} is not a defined Broker")
        event_type = ((spec.get("filter") or {}).get("attributes") or {}).get("type")
        if event_type not in known_types:
            problems.append(
                f"{where}: filters on type {event_type!r}, which nothing in Vigil emits"
            )
        delivery = spec.get("delivery") or {}
        if delivery.get("backoffPolicy") != "exponential" or "deadLetterSink" not in delivery:
            problems.append(f"{where}: delivery needs exponential back-off and a deadLetterSink")

    for source in manifests.of_kind("PingSource"):
        if "schedule" not in source["spec"]:
            problems.append(f"{_name(source)}: spec.schedule is missing")
            continue
        try:
            parse_schedule(source["spec"]["schedule"], source["spec"].get("timezone"))
        except WiringError as exc:
            problems.append(f"{_name(source)}: spec.schedule: {exc}")

    for source in manifests.of_kind("ApiServerSource"):
        if source["spec"].get("mode", "Reference") not in ("Resource", "Reference"):
            problems.append(f"{_name(source)}: spec.mode must be Resource or Reference")

    for binding in manifests.of_kind("SinkBinding"):
        if not any(
            subject_matches(binding["spec"].get("subject") or {}, s) for s in manifests.services()
        ):
            problems.append(f"{_name(binding)}: spec.subject matches no defined Service")
    return problems


def all_problems(manifests: Manifests) -> list[str]:
    problems = []
    for doc in manifests.docs:
        problems += schema_problems(doc)
    return problems + rule_problems(manifests)


def broken(manifests: Manifests, kind: str, name: str, change) -> Manifests:
    """A deep copy of ``manifests`` with ``change(doc)`` applied to one object."""
    docs = copy.deepcopy(manifests.docs)
    for doc in docs:
        if doc.get("kind") == kind and doc["metadata"]["name"] == name:
            change(doc)
            return Manifests(docs, manifests.files)
    raise LookupError(f"{kind}/{name} not in the manifests")


def component_files(folder: Path) -> list[str]:
    return sorted(
        str(p.parent.relative_to(folder)) for p in folder.glob("components/*/kustomization.yaml")
    )


# --- what an operator applies, and the hardening rules (issue 14) ----------------------------

PUBLIC_SERVICES = {"api"}  # the only Service reachable from outside the cluster
VISIBILITY = "networking.knative.dev/visibility"
IMAGE_REFERENCE = re.compile(
    r"^(?P<registry>[a-z0-9-]+(\.[a-z0-9-]+)+(:\d+)?|localhost(:\d+)?)/[a-z0-9._/-]+"
    r"@sha256:[0-9a-f]{64}$"
)


def deployment(components: list[str] | None = None) -> Manifests:
    """Everything a release applies: the Secrets step, the migration step and the deployment
    (with the optional components), as one set for the cross-reference checks."""
    folder = ROOT / "infra" / "knative"
    parts = [
        load_manifests(folder / "secrets"),
        load_manifests(folder / "migrate"),
        load_manifests(folder, components if components is not None else component_files(folder)),
    ]
    return Manifests([d for part in parts for d in part.docs], [f for p in parts for f in p.files])


def pods(manifests: Manifests) -> list[tuple[str, dict]]:
    """(name, pod spec) of every workload: Knative Services and Jobs."""
    found = [
        (f"Service/{s['metadata']['name']}", s["spec"]["template"]["spec"])
        for s in manifests.services()
    ]
    found += [
        (f"Job/{j['metadata']['name']}", j["spec"]["template"]["spec"])
        for j in manifests.of_kind("Job")
    ]
    return found


def visibility_problems(manifests: Manifests) -> list[str]:
    problems = []
    for service in manifests.services():
        name = service["metadata"]["name"]
        local = (service["metadata"].get("labels") or {}).get(VISIBILITY) == "cluster-local"
        if name not in PUBLIC_SERVICES and not local:
            problems.append(f"Service/{name}: public; label it {VISIBILITY}: cluster-local")
        if name in PUBLIC_SERVICES and local:
            problems.append(f"Service/{name}: cluster-local, but it is the public API")
    return problems


def security_problems(manifests: Manifests) -> list[str]:
    """Restricted Pod Security for every container, a writable /tmp, HOME and resources."""
    problems = []
    for where, pod in pods(manifests):
        empty_dirs = {v["name"] for v in pod.get("volumes") or [] if "emptyDir" in v}
        for container in pod.get("containers") or []:
            at = f"{where} container {container.get('name')}"
            context = container.get("securityContext") or {}
            wanted = {
                "runAsNonRoot": True,
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
            }
            for key, value in wanted.items():
                if context.get(key) is not value:
                    problems.append(f"{at}: securityContext.{key} must be {str(value).lower()}")
            capabilities = context.get("capabilities") or {}
            if "ALL" not in (capabilities.get("drop") or []) or capabilities.get("add"):
                problems.append(f"{at}: securityContext.capabilities must drop ALL and add none")
            if (context.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                problems.append(f"{at}: securityContext.seccompProfile.type must be RuntimeDefault")
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts") or []}
            if mounts.get("/tmp") not in empty_dirs:
                problems.append(f"{at}: /tmp must be an emptyDir volume (the root is read-only)")
            env = {e["name"]: e.get("value") for e in container.get("env") or []}
            if not str(env.get("HOME") or "").startswith("/tmp"):
                problems.append(f"{at}: env HOME must point into the writable /tmp")
            resources = container.get("resources") or {}
            requests = resources.get("requests") or {}
            if not {"cpu", "memory"} <= set(requests) or "memory" not in (
                resources.get("limits") or {}
            ):
                problems.append(f"{at}: resources need cpu and memory requests and a memory limit")
    return problems


def image_problems(manifests: Manifests) -> list[str]:
    problems = []
    for where, pod in pods(manifests):
        for container in pod.get("containers") or []:
            image = str(container.get("image", ""))
            if not IMAGE_REFERENCE.match(image):
                problems.append(
                    f"{where} container {container.get('name')}: image {image!r} must be "
                    "REGISTRY/NAME@sha256:DIGEST (Knative cannot resolve anything else)"
                )
    return problems


def secret_problems(default: Manifests) -> list[str]:
    """The default kustomization must never carry Secrets: applying it would overwrite the
    operator's own (infra/knative/secrets/ makes them from git-ignored files)."""
    return [
        f"{_name(doc)}: a Secret in the default resources ({', '.join(map(str, default.files))})"
        for doc in default.of_kind("Secret")
    ]


# --- RBAC against the Kubernetes calls each function's code can make -------------------------

_API_METHOD = re.compile(
    r"^(?P<verb>list|read|patch|create|delete|replace)_(?P<namespaced>namespaced_)?"
    r"(?P<kind>[a-z_]+?)(?:_for_all_namespaces)?$"
)
_VERBS = {
    "list": "list",
    "read": "get",
    "patch": "patch",
    "create": "create",
    "delete": "delete",
    "replace": "update",
}
# kubernetes-client kind → (API group, resource); extend when the code reaches a new kind.
_RESOURCES = {
    "node": ("", "nodes"),
    "lease": ("coordination.k8s.io", "leases"),
    "pod": ("", "pods"),
    "event": ("", "events"),
    "secret": ("", "secrets"),
    "config_map": ("", "configmaps"),
}
_PACKAGES = ("shared", "vigil", "vigilsim")


def _module_path(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """Project modules ``path`` imports anywhere (lazy imports inside functions count too)."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in _PACKAGES and _module_path(name):
                found.add(name)
    return found


def reachable_files(function: str) -> set[Path]:
    """Every project file functions/<function>/main.py can import, transitively."""
    start = ROOT / "functions" / function / "main.py"
    seen: set[Path] = {start}
    todo = [start]
    while todo:
        for module in _imports(todo.pop()):
            parts = module.split(".")
            for end in range(1, len(parts) + 1):  # a package's __init__ runs first
                path = _module_path(".".join(parts[:end]))
                if path and path not in seen:
                    seen.add(path)
                    todo.append(path)
    return seen


def kubernetes_calls(paths: Iterable[Path]) -> set[tuple[str, str, str]]:
    """(API group, resource, verb) of every kubernetes-client API method the files name;
    a file using ``watch.Watch`` also watches what it lists."""
    import ast

    needed: set[tuple[str, str, str]] = set()
    for path in paths:
        text = path.read_text()
        if "kubernetes" not in text:
            continue
        listed = set()
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.Attribute):
                continue
            match = _API_METHOD.match(node.attr)
            if not match or match.group("kind") not in _RESOURCES:
                continue
            group, resource = _RESOURCES[match.group("kind")]
            verb = _VERBS[match.group("verb")]
            needed.add((group, resource, verb))
            if verb == "list":
                listed.add((group, resource))
        if "Watch(" in text:
            needed |= {(group, resource, "watch") for group, resource in listed}
    return needed


def granted(
    manifests: Manifests, account: str, namespace: str = "vigil"
) -> set[tuple[str, str, str]]:
    """(API group, resource, verb) the Roles and ClusterRoles bound to a ServiceAccount allow."""
    roles = {
        (r["kind"], r["metadata"]["name"]): r
        for r in [*manifests.of_kind("Role"), *manifests.of_kind("ClusterRole")]
    }
    found = set()
    for binding in [*manifests.of_kind("RoleBinding"), *manifests.of_kind("ClusterRoleBinding")]:
        if not any(
            s.get("kind") == "ServiceAccount"
            and s.get("name") == account
            and s.get("namespace", namespace) == namespace
            for s in binding.get("subjects") or []
        ):
            continue
        role = roles.get((binding["roleRef"]["kind"], binding["roleRef"]["name"]))
        for rule in (role or {}).get("rules") or []:
            for group in rule.get("apiGroups") or [""]:
                for resource in rule.get("resources") or []:
                    for verb in rule.get("verbs") or []:
                        found.add((group, resource, verb))
    return found


def _show(rules: set[tuple[str, str, str]]) -> str:
    return ", ".join(f"{v} {r}" + (f".{g}" if g else "") for g, r, v in sorted(rules)) or "nothing"


def rbac_problems(manifests: Manifests) -> list[str]:
    """Each function's ServiceAccount grants exactly what its code calls, and an account that
    needs nothing has no token mounted."""
    problems = []
    accounts = {sa["metadata"]["name"]: sa for sa in manifests.of_kind("ServiceAccount")}
    seen: dict[str, str] = {}
    for service in manifests.services():
        name = service["metadata"]["name"]
        pod = service["spec"]["template"]["spec"]
        function = next(
            (e["value"] for e in pod["containers"][0].get("env") or [] if e["name"] == "FUNCTION"),
            name,
        )
        account = pod.get("serviceAccountName") or "default"
        if account in seen:
            problems.append(
                f"Service/{name}: shares ServiceAccount {account} with Service/{seen[account]}"
            )
        seen[account] = name
        needed = kubernetes_calls(reachable_files(function))
        allowed = granted(manifests, account)
        if allowed - needed:
            problems.append(
                f"Service/{name}: {account} may {_show(allowed - needed)}, which its code never calls"
            )
        if needed - allowed:
            problems.append(
                f"Service/{name}: its code calls {_show(needed - allowed)}, which {account} may not"
            )
        token_off = pod.get("automountServiceAccountToken") is False or (
            (accounts.get(account) or {}).get("automountServiceAccountToken") is False
        )
        if not needed and not token_off:
            problems.append(
                f"Service/{name}: needs no Kubernetes access; set automountServiceAccountToken: false"
            )
        if needed and token_off:
            problems.append(f"Service/{name}: calls the Kubernetes API but mounts no token")
    for where, pod in pods(manifests):
        if where.startswith("Job/") and pod.get("automountServiceAccountToken") is not False:
            problems.append(
                f"{where}: needs no Kubernetes access; set automountServiceAccountToken: false"
            )
    return problems
