"""Topic names of the public contract, and the per-deployment suffix tests use to isolate."""

from __future__ import annotations

from dataclasses import dataclass

EXECUTION_REQUESTED = "agent.execution.requested.v1"
EXECUTION_REQUESTED_DLQ = "agent.execution.requested.v1.dlq"
EXECUTION_RESULT = "agent.execution.result.v1"
KEYS = "keyvault.keys.v1"
ASSIGNMENTS = "workspace.assignments.v1"
PLANS = "workspace.plans.v1"
ALERTS = "org.alerts.v1"


@dataclass(frozen=True)
class Topics:
    """The topic names one deployment uses; `suffix` is empty except in isolated tests."""

    suffix: str = ""

    def _name(self, base: str) -> str:
        return f"{base}{self.suffix}"

    @property
    def execution_requested(self) -> str:
        return self._name(EXECUTION_REQUESTED)

    @property
    def execution_requested_dlq(self) -> str:
        return self._name(EXECUTION_REQUESTED) + ".dlq" if self.suffix else EXECUTION_REQUESTED_DLQ

    @property
    def execution_result(self) -> str:
        return self._name(EXECUTION_RESULT)

    @property
    def keys(self) -> str:
        return self._name(KEYS)

    @property
    def assignments(self) -> str:
        return self._name(ASSIGNMENTS)

    @property
    def plans(self) -> str:
        return self._name(PLANS)

    @property
    def alerts(self) -> str:
        return self._name(ALERTS)

    def compacted(self) -> tuple[str, ...]:
        return (self.keys, self.assignments, self.plans)

    def all(self) -> tuple[str, ...]:
        return (
            self.execution_requested,
            self.execution_requested_dlq,
            self.execution_result,
            self.alerts,
            *self.compacted(),
        )
