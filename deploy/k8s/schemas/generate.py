"""Regenerates the JSON schemas kubeconform validates deploy/k8s against (offline, in
`make test`): only the kinds the manifests use, strict (an unknown field is an error).

The schemas come from the pydantic models that cloudcoil generates from the Kubernetes
OpenAPI document and from the KEDA and prometheus-operator CRDs (the openapi2jsonschema
approach: resolve the model to one self-contained JSON schema, forbid additional
properties, pin `apiVersion` and `kind`). Run it only to add a kind or move versions:

    .local/tools/bin/uv run --no-project --python 3.11 \
        --with cloudcoil-models-kubernetes==1.32.1.3 --with cloudcoil-models-keda==2.16.1.0 \
        --with cloudcoil-models-prometheus-operator==0.80.1.0 \
        python deploy/k8s/schemas/generate.py

File names follow kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}.json`.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent

# (module, class, apiVersion, file stem)
KINDS = [
    ("cloudcoil.models.kubernetes.core.v1", "Namespace", "v1", "namespace-v1"),
    ("cloudcoil.models.kubernetes.core.v1", "ConfigMap", "v1", "configmap-v1"),
    ("cloudcoil.models.kubernetes.core.v1", "Secret", "v1", "secret-v1"),
    ("cloudcoil.models.kubernetes.core.v1", "Service", "v1", "service-v1"),
    ("cloudcoil.models.kubernetes.apps.v1", "Deployment", "apps/v1", "deployment-apps-v1"),
    ("cloudcoil.models.kubernetes.batch.v1", "Job", "batch/v1", "job-batch-v1"),
    (
        "cloudcoil.models.kubernetes.policy.v1",
        "PodDisruptionBudget",
        "policy/v1",
        "poddisruptionbudget-policy-v1",
    ),
    (
        "cloudcoil.models.kubernetes.autoscaling.v2",
        "HorizontalPodAutoscaler",
        "autoscaling/v2",
        "horizontalpodautoscaler-autoscaling-v2",
    ),
    (
        "cloudcoil.models.kubernetes.networking.v1",
        "NetworkPolicy",
        "networking.k8s.io/v1",
        "networkpolicy-networking-v1",
    ),
    (
        "cloudcoil.models.kubernetes.networking.v1",
        "Ingress",
        "networking.k8s.io/v1",
        "ingress-networking-v1",
    ),
    (
        "cloudcoil.models.keda.v1alpha1",
        "ScaledObject",
        "keda.sh/v1alpha1",
        "scaledobject-keda-v1alpha1",
    ),
    (
        "cloudcoil.models.prometheus_operator.v1",
        "ServiceMonitor",
        "monitoring.coreos.com/v1",
        "servicemonitor-monitoring-v1",
    ),
]

_DROP = ("title", "description", "default", "examples")


def _tighten(node: Any) -> Any:
    """Drop prose and defaults; objects with declared properties accept nothing else."""
    if isinstance(node, dict):
        out = {k: _tighten(v) for k, v in node.items() if k not in _DROP}
        if "properties" in node and "additionalProperties" not in node:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_tighten(v) for v in node]
    return node


def schema_of(module: str, name: str, api_version: str) -> dict[str, Any]:
    model = getattr(importlib.import_module(module), name)
    schema: dict[str, Any] = _tighten(model.model_json_schema(by_alias=True))
    props = schema["properties"]
    props["apiVersion"] = {"type": "string", "enum": [api_version]}
    props["kind"] = {"type": "string", "enum": [name]}
    props.pop("status", None)  # written by the cluster, never by a manifest
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind"})
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return schema


def main() -> None:
    for module, name, api_version, stem in KINDS:
        schema = schema_of(module, name, api_version)
        text = json.dumps(schema, separators=(",", ":"), sort_keys=True)
        (HERE / f"{stem}.json").write_text(text + "\n")
        print(f"{stem}.json  {len(text):>7} bytes")


if __name__ == "__main__":
    main()
