"""The AsyncAPI document of the project's topics, generated from shared.contracts."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.contracts import (
    ExecutionRequested,
    ExecutionResult,
    OrgAlertRaised,
    OrgPlanChanged,
    ProviderKeyChanged,
    Topics,
    WorkspaceAssignmentsChanged,
)

_REF = "#/components/schemas/{model}"

# topic -> (event model, Kafka key, who publishes, compacted)
_CHANNELS: list[tuple[str, type[BaseModel], str, str, bool]] = [
    ("execution_requested", ExecutionRequested, "execution_id", "any workflow engine", False),
    ("execution_result", ExecutionResult, "execution_id", "agent-runner", False),
    ("keys", ProviderKeyChanged, "key_id", "keyvault", True),
    ("assignments", WorkspaceAssignmentsChanged, "workspace_id", "workspace", True),
    ("plans", OrgPlanChanged, "org_id", "workspace", True),
    ("alerts", OrgAlertRaised, "org_id", "keyvault", False),
]


def _doc(model: type[BaseModel]) -> str:
    return (model.__doc__ or model.__name__).strip().splitlines()[0]


def build_asyncapi(topics: Topics, *, version: str = "1.0.0") -> dict[str, Any]:
    """An AsyncAPI 2.6 document: one channel per topic, payloads from the event models."""
    models = [m for _, m, _, _, _ in _CHANNELS]
    refs, defs = models_json_schema([(m, "serialization") for m in models], ref_template=_REF)
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for attr, model, key, publisher, compacted in _CHANNELS:
        name = model.__name__
        messages[name] = {
            "name": name,
            "title": name,
            "summary": _doc(model),
            "contentType": "application/json",
            "payload": refs[(model, "serialization")],
            "bindings": {"kafka": {"key": {"type": "string", "description": f"The {key}."}}},
            "examples": [],
        }
        topic = getattr(topics, attr)
        channels[topic] = {
            "description": (
                f"{_doc(model)} Published by {publisher}; Kafka key = {key}."
                + (
                    " Log-compacted: the latest event per key is the current state."
                    if compacted
                    else ""
                )
            ),
            "subscribe": {
                "operationId": f"on_{attr}",
                "message": {"$ref": f"#/components/messages/{name}"},
            },
            "bindings": {
                "kafka": {
                    "topic": topic,
                    "topicConfiguration": {
                        "cleanup.policy": ["compact"] if compacted else ["delete"]
                    },
                }
            },
        }
    messages["ExecutionRequestedDeadLetter"] = {
        "name": "ExecutionRequestedDeadLetter",
        "title": "ExecutionRequested dead letter",
        "summary": "A request that could not be parsed, unchanged, with the reason in x-error.",
        "contentType": "application/octet-stream",
        "headers": {
            "type": "object",
            "properties": {"x-error": {"type": "string", "description": "Why it was refused."}},
            "required": ["x-error"],
        },
        "payload": {"description": "The original message bytes, unchanged."},
    }
    channels[topics.execution_requested_dlq] = {
        "description": "Requests agent-runner could not parse; consumption continued past them.",
        "subscribe": {
            "operationId": "on_execution_requested_dlq",
            "message": {"$ref": "#/components/messages/ExecutionRequestedDeadLetter"},
        },
    }
    return {
        "asyncapi": "2.6.0",
        "info": {
            "title": "FlowTrux AI Providers events",
            "version": version,
            "description": (
                "Topics of the FlowTrux AI Providers system. Every event carries event_id, "
                "occurred_at and schema_version; readers ignore unknown fields; a breaking "
                "change gets a new .v2 topic. Delivery is at least once."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"url": "127.0.0.1:9092", "protocol": "kafka"}},
        "channels": channels,
        "components": {"messages": messages, "schemas": schemas},
    }
