"""deploy/k8s renders with kustomize and every object validates (kubeconform, strict, offline)
against the schemas kept in deploy/k8s/schemas; the policies say what docs/OPERATIONS.md says.

The tools are built from the Go module proxy into .local/ by deploy/local/k8s-tools.sh (the
first run builds them; `make install` does it up front).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
SCHEMAS = K8S / "schemas"
SERVICES = ("keyvault", "workspace", "gateway", "agent-runner")


def _missing(what: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(what)
    pytest.skip(what)


@pytest.fixture(scope="module")
def tools() -> Path:
    if shutil.which("go") is None and not list((ROOT / ".local/cache").glob("k8stools-*")):
        _missing("Go is needed to build kustomize and kubeconform (deploy/local/k8s-tools.sh)")
    built = subprocess.run(
        [str(ROOT / "deploy/local/k8s-tools.sh")], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stderr
    return Path(built.stdout.strip())


def _render(tools: Path, tmp: Path, target: str) -> str:
    """`kustomize build` of a copy of deploy/k8s whose secret files come from the examples."""
    copy = tmp / "k8s"
    if not copy.exists():
        shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("*.env", "schemas"))
        for example in (copy / "secrets").glob("*.env.example"):
            example.with_suffix("").write_text(example.read_text())
    done = subprocess.run(
        [str(tools / "kustomize"), "build", str(copy / target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _validate(tools: Path, rendered: str) -> str:
    done = subprocess.run(
        [
            str(tools / "kubeconform"),
            "-strict",
            "-summary",
            "-schema-location",
            f"{SCHEMAS}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
            "-",
        ],
        input=rendered,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def objects(tools: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    rendered = _render(tools, tmp_path_factory.mktemp("k8s"), ".")
    _validate(tools, rendered)
    return [d for d in yaml.safe_load_all(rendered) if d]


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name)
    return found[0]


def test_kubeconform_rejects_an_unknown_field(tools: Path) -> None:
    """The schemas are strict: a typo is an error, not silently ignored."""
    bad = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"
        "spec:\n  replicas: 1\n  replicaz: 2\n  selector: {matchLabels: {app: x}}\n"
        "  template:\n    metadata: {labels: {app: x}}\n"
        "    spec: {containers: [{name: x, image: x}]}\n"
    )
    done = subprocess.run(
        [
            str(tools / "kubeconform"),
            "-strict",
            "-schema-location",
            f"{SCHEMAS}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
            "-",
        ],
        input=bad,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "replicaz" in done.stdout + done.stderr


def test_every_kind_used_has_a_schema_and_validates(objects: list[dict[str, Any]]) -> None:
    kinds = {o["kind"] for o in objects}
    assert kinds == {
        "Namespace",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "Ingress",
        "ScaledObject",
        "ServiceMonitor",
    }


def test_the_rewrap_job_renders_and_validates(tools: Path, tmp_path: Path) -> None:
    rendered = _render(tools, tmp_path, "jobs")
    _validate(tools, rendered)
    (job,) = [d for d in yaml.safe_load_all(rendered) if d]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "keyvault", "rewrap"]
    assert {"secretRef": {"name": "keyvault-secrets"}} in container["envFrom"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_mounts_only_its_own_secret_and_has_probes(
    objects: list[dict[str, Any]], service: str
) -> None:
    pod = _one(objects, "Deployment", service)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    secrets = [e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e]
    assert secrets == [f"{service}-secrets"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert probe in container, probe
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert _one(objects, "PodDisruptionBudget", service)["spec"]["minAvailable"] == 1
    service_object = _one(objects, "Service", service)
    assert service_object["metadata"]["labels"]["app.kubernetes.io/part-of"] == "flowtrux"


def test_secrets_hold_only_what_each_service_uses(objects: list[dict[str, Any]]) -> None:
    def keys(name: str) -> set[str]:
        secret = _one(objects, "Secret", name)
        return set(secret.get("data", {})) | set(secret.get("stringData", {}))

    own = {"KAFKA_SASL_PASSWORD", "MONGODB_URL"}
    assert keys("agent-runner-secrets") == {"SERVICE_TOKEN_AGENT_RUNNER", *own}
    # The gateway: no database, no user-token secret in prod (OIDC), no keyring.
    assert keys("gateway-secrets") == {"SERVICE_TOKEN_GATEWAY", "KAFKA_SASL_PASSWORD"}
    for name in ("keyvault-secrets", "workspace-secrets"):
        assert own <= keys(name)
    assert "KEYVAULT_MASTER_KEYS" in keys("keyvault-secrets")
    for other in ("gateway-secrets", "workspace-secrets", "agent-runner-secrets"):
        assert "KEYVAULT_MASTER_KEYS" not in keys(other)
        assert "GATEWAY_JWT_SECRET" not in keys(other)


def test_autoscaling_hpa_for_the_apis_and_keda_on_lag_for_runners(
    objects: list[dict[str, Any]],
) -> None:
    for service in ("gateway", "keyvault", "workspace"):
        hpa = _one(objects, "HorizontalPodAutoscaler", service)
        assert hpa["spec"]["scaleTargetRef"]["name"] == service
    assert not [
        o
        for o in objects
        if o["kind"] == "HorizontalPodAutoscaler" and o["metadata"]["name"] == "agent-runner"
    ]
    scaled = _one(objects, "ScaledObject", "agent-runner")
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["topic"] == "agent.execution.requested.v1"
    assert scaled["spec"]["maxReplicaCount"] <= 6  # the requests topic's partitions


def _allowed_from(objects: list[dict[str, Any]], app: str) -> list[dict[str, Any]]:
    """The ingress `from` peers of every policy that selects pods labelled `app`."""
    peers: list[dict[str, Any]] = []
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        spec = policy["spec"]
        selects = spec["podSelector"] == {} or spec["podSelector"].get("matchLabels") == {
            "app": app
        }
        if selects and "Ingress" in spec["policyTypes"]:
            for rule in spec.get("ingress", []):
                peers.extend(rule["from"])
    return peers


def test_network_policies_isolate_the_internal_services(objects: list[dict[str, Any]]) -> None:
    deny = _one(objects, "NetworkPolicy", "default-deny-ingress")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}

    def namespaces(peers: list[dict[str, Any]]) -> set[str]:
        return {
            p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for p in peers
            if "namespaceSelector" in p
        }

    assert namespaces(_allowed_from(objects, "gateway")) == {"ingress-nginx", "monitoring"}
    for internal in ("keyvault", "workspace", "agent-runner"):
        assert "ingress-nginx" not in namespaces(_allowed_from(objects, internal)), internal
    kv_callers = [p for p in _allowed_from(objects, "keyvault") if "podSelector" in p]
    (callers,) = kv_callers
    assert set(callers["podSelector"]["matchExpressions"][0]["values"]) == {
        "gateway",
        "workspace",
        "agent-runner",
    }
    egress = _one(objects, "NetworkPolicy", "agent-runner-egress")["spec"]
    https = [r for r in egress["egress"] if {"protocol": "TCP", "port": 443} in r["ports"]]
    assert https[0]["to"][0]["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert "10.0.0.0/8" in https[0]["to"][0]["ipBlock"]["except"]


def test_the_ingress_is_tls_to_the_gateway_only(objects: list[dict[str, Any]]) -> None:
    (ingress,) = [o for o in objects if o["kind"] == "Ingress"]
    assert ingress["spec"]["tls"][0]["secretName"]
    backends = {
        p["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert backends == {"gateway"}
    monitor = _one(objects, "ServiceMonitor", "flowtrux")
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
