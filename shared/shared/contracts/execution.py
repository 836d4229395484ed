"""Events of the Agent-node runtime path (published by workflow engines and agent-runner)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from shared.contracts.base import Event, Identifier, Model, ProviderId


class ChatMessage(Model):
    """One turn of the conversation sent to the model."""

    role: Literal["user", "assistant"] = Field(description="Who said it.")
    content: str = Field(min_length=1, max_length=1_000_000, description="The text of the turn.")


class ExecutionInput(Model):
    """What the Agent node asks the model: a system prompt, messages and sampling options."""

    system: str | None = Field(None, max_length=1_000_000, description="System prompt, if any.")
    messages: list[ChatMessage] = Field(
        min_length=1, max_length=1000, description="Conversation, oldest first; at least one."
    )
    max_tokens: int = Field(1024, ge=1, le=200_000, description="Upper bound on output tokens.")
    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature.")


class ExecutionRequested(Event):
    """A workflow engine asks for one Agent-node execution (topic agent.execution.requested.v1)."""

    execution_id: Identifier = Field(description="Id of the execution; also the Kafka key.")
    org_id: Identifier = Field(description="Organization that owns the workflow.")
    workspace_id: Identifier = Field(description="Workspace whose assigned keys are used.")
    workflow_id: Identifier | None = Field(None, description="Workflow the node belongs to.")
    node_id: Identifier | None = Field(None, description="The Agent node being executed.")
    model: str = Field(min_length=1, max_length=128, description="Catalog model id.")
    input: ExecutionInput = Field(description="Prompt and options for the model.")


class ErrorCode(StrEnum):
    """Why an execution failed; part of the public contract."""

    PROVIDER_NOT_CONFIGURED = "provider_not_configured"
    MODEL_UNKNOWN = "model_unknown"
    INVALID_REQUEST = "invalid_request"
    PROVIDER_AUTH_FAILED = "provider_auth_failed"
    PROVIDER_RATE_LIMITED = "provider_rate_limited"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    KEY_UNAVAILABLE = "key_unavailable"
    PROVIDER_BAD_RESPONSE = "provider_bad_response"
    INTERNAL_ERROR = "internal_error"
    BUDGET_EXCEEDED = "budget_exceeded"


def provider_not_configured_message(workspace_id: str, provider: str) -> str:
    """The text of PROVIDER_NOT_CONFIGURED: no key of `provider` is assigned to the workspace.

    keyvault refuses a resolution with it; the runner passes it on in the execution's error.
    """
    return (
        f"Workspace {workspace_id!r} has no {provider} key assigned. An OWNER can add a "
        f"{provider} key under Settings → AI Providers and assign it to the workspace under "
        "Settings → Workspaces."
    )


class ExecutionError(Model):
    """The error of a failed execution; never carries secret material."""

    code: ErrorCode = Field(description="Machine-readable reason.")
    message: str = Field(description="Human-readable explanation, with what to do about it.")
    retryable: bool = Field(description="Whether trying again later may succeed.")


class ExecutionOutput(Model):
    """What the model answered."""

    text: str = Field(description="The generated text.")
    finish_reason: str | None = Field(None, description="The provider's stop reason.")


class ExecutionUsage(Model):
    """Tokens counted by the provider and their cost from the configured price table."""

    input_tokens: int = Field(ge=0, description="Prompt tokens.")
    output_tokens: int = Field(ge=0, description="Generated tokens.")
    cost_usd: float | None = Field(
        None, ge=0, description="Cost in USD; null when no price is configured for the model."
    )


REPUBLISHED_HEADER = "flowtrux-republished"
"""Kafka header (value `1`) on a result agent-runner publishes again: the recorded result of
a redelivered request, or another runner's result recorded first. Every other result is
published once (an idempotent producer), so a consumer that counts each execution once
(keyvault's spend) looks a result up in its own records only when it is marked so, or when
the consumer itself may have seen the record before."""


class ExecutionResult(Event):
    """The outcome of one execution (topic agent.execution.result.v1); never carries a key."""

    execution_id: Identifier = Field(description="Id of the execution; also the Kafka key.")
    org_id: Identifier = Field(description="Organization that owns the workflow.")
    workspace_id: Identifier = Field(description="Workspace whose keys were used.")
    workflow_id: Identifier | None = Field(None, description="Workflow the node belongs to.")
    node_id: Identifier | None = Field(None, description="The Agent node that was executed.")
    status: Literal["succeeded", "failed"] = Field(description="Outcome.")
    model: str = Field(description="Model that was asked.")
    provider: ProviderId | None = Field(None, description="Provider of the model, when known.")
    key_id: str | None = Field(None, description="Id of the provider key used (never the key).")
    output: ExecutionOutput | None = Field(None, description="Answer; null when failed.")
    usage: ExecutionUsage | None = Field(None, description="Token usage and cost, when known.")
    error: ExecutionError | None = Field(None, description="Why it failed; null on success.")
    attempts: int = Field(ge=0, description="Provider calls made, retries included.")
    duration_ms: int = Field(ge=0, description="Time from receipt to result, in milliseconds.")
