"""Budgets at resolution time, settlement from results, and alerts (budget and key expiry).

The check is atomic where keyvault releases a key: before a sealed key leaves, a hold of the
call's conservative cost estimate is taken on the UTC month's counter of the key's budget and
of the workspace's budget, each a conditional increment of one document. The execution's
result (agent.execution.result.v1) settles the hold to the actual cost; a hold whose result
never comes is released after `KEYVAULT_HOLD_TTL_S`. So the spend a budget sees is settled
cost plus what is in flight, and concurrent executions at the edge cannot pass it together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from keyvault.domain import AssignmentsView, KeyStore, ProviderKey
from keyvault.domain.budgets import (
    EXPIRY_WARNING,
    Charge,
    CounterMove,
    Delivery,
    Hold,
    Refusal,
    Scope,
    budget_alert_message,
    counter_id,
    crossed_thresholds,
    exhausted_message,
    expiring_soon,
    expiry_alert_message,
    from_nanos,
    hold_id,
    month_of,
    next_reset,
    plan_settlement,
    to_nanos,
)
from keyvault.domain.errors import InvalidCursorError
from keyvault.domain.ports import AlertEvents, BudgetStore
from shared.batching import SingleFlight
from shared.contracts import OrgAlertRaised, utcnow
from shared.paging import InvalidCursorError as MalformedCursor
from shared.paging import decode_cursor, encode_cursor

log = logging.getLogger(__name__)


class BudgetGuard:
    """Holds, settles and alerts on the monthly budgets of keys and workspaces."""

    def __init__(
        self,
        *,
        store: BudgetStore,
        keys: KeyStore,
        assignments: AssignmentsView,
        alerts: AlertEvents | None = None,
        hold_ttl_s: float = 1800.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.keys = keys
        self.assignments = assignments
        self.alerts = alerts
        self.hold_ttl = timedelta(seconds=hold_ttl_s)
        self.clock = clock
        self._raised: set[str] = set()  # alert ids known stored, so refusals skip the insert
        self._raising: SingleFlight[str, None] = SingleFlight()  # by alert id
        self._suspect: set[str] = set()  # streams whose last settlement here failed

    def _budgets(
        self, *, org_id: str, workspace_id: str, key: ProviderKey
    ) -> list[tuple[Scope, str, str, float]]:
        found: list[tuple[Scope, str, str, float]] = []
        if key.budget_usd_monthly is not None:
            found.append(("key", key.id, key.name, key.budget_usd_monthly))
        ws = self.assignments.get(workspace_id)
        if ws is not None and ws.org_id == org_id and ws.budget_usd_monthly is not None:
            found.append(
                ("workspace", workspace_id, ws.name or workspace_id, ws.budget_usd_monthly)
            )
        return found

    async def admit(
        self,
        *,
        org_id: str,
        workspace_id: str,
        execution_id: str,
        key: ProviderKey,
        estimate_usd: float | None,
    ) -> Refusal | None:
        """Hold the estimate on every budget of (key, workspace); the refusing budget or None."""
        budgets = self._budgets(org_id=org_id, workspace_id=workspace_id, key=key)
        if not budgets:
            return None
        now = self.clock()
        month = month_of(now)
        hold = Hold(
            id=hold_id(org_id, execution_id, key.id),
            org_id=org_id,
            execution_id=execution_id,
            key_id=key.id,
            workspace_id=workspace_id,
            month=month,
            estimate_nanos=to_nanos(estimate_usd or 0.0),
            counters=tuple(counter_id(org_id, s, sid, month) for s, sid, _, _ in budgets),
            expires_at=now + self.hold_ttl,
        )
        refused = await self.store.hold(hold=hold, budgets=[to_nanos(b) for *_, b in budgets])
        if refused is None:
            return None
        scope, scope_id, name, budget = budgets[refused]
        refusal = Refusal(
            scope=scope, scope_id=scope_id, name=name, budget_usd=budget, resets_at=next_reset(now)
        )
        await self._exhausted(org_id, refusal, month=month, counter=hold.counters[refused])
        return refusal

    async def _exhausted(self, org_id: str, refusal: Refusal, *, month: str, counter: str) -> None:
        """The 100 % alert when a budget refuses a run: spend plus what is in flight leaves no
        room for one more call (the holds are conservative, so this comes before the settled
        spend itself reaches the budget)."""
        alert_id = f"budget:{refusal.scope}:{refusal.scope_id}:{month}:100"
        if alert_id in self._raised:
            return
        # Concurrent refusals of one budget share one read and one alert write (a burst at
        # the edge otherwise wrote the same alert once per refused execution); each still
        # returns only once the alert is stored.
        await self._raising.run(
            alert_id,
            lambda: self._raise_exhausted(alert_id, org_id, refusal, month=month, counter=counter),
        )

    async def _raise_exhausted(
        self, alert_id: str, org_id: str, refusal: Refusal, *, month: str, counter: str
    ) -> None:
        spent = from_nanos((await self.store.spent([counter])).get(counter, 0))
        await self._raise(
            [
                OrgAlertRaised(
                    org_id=org_id,
                    alert_id=alert_id,
                    kind="budget",
                    scope=refusal.scope,
                    scope_id=refusal.scope_id,
                    threshold_pct=100,
                    month=month,
                    budget_usd=refusal.budget_usd,
                    spent_usd=spent,
                    message=exhausted_message(refusal, spent_usd=spent),
                    at=self.clock(),
                )
            ]
        )

    async def settle(self, deliveries: list[Delivery]) -> int:
        """Settle each result's holds to its actual cost (each execution once: see
        `plan_settlement`); raise the budget alerts it crosses."""
        streams = sorted({d.stream for d in deliveries})
        plan = plan_settlement(deliveries, await self.store.settled_up_to(streams), self._suspect)
        charges = [
            Charge(
                org_id=r.org_id,
                execution_id=r.execution_id,
                key_id=r.key_id,
                workspace_id=r.workspace_id,
                month=month_of(r.occurred_at),
                cost_nanos=to_nanos(r.usage.cost_usd) if r.usage and r.usage.cost_usd else 0,
                may_be_settled=maybe,
            )
            for r, maybe in plan.settle
        ]
        try:
            moves = await self.store.settle(charges)
            await self.store.mark_settled_up_to(plan.settled_up_to)
        except BaseException:
            # Settled in part, perhaps: until a batch of these streams settles whole, every
            # result of theirs is looked up.
            self._suspect.update(streams)
            raise
        self._suspect.difference_update(streams)
        await self._budget_alerts(moves)
        return len(moves)

    async def _budget_alerts(self, moves: list[CounterMove]) -> None:
        now = self.clock()
        raised: list[OrgAlertRaised] = []
        for move in moves:
            budget, name = await self._budget_of(move)
            if budget is None:
                continue
            for pct in crossed_thresholds(
                before_usd=from_nanos(move.spent_before_nanos),
                after_usd=from_nanos(move.spent_after_nanos),
                budget_usd=budget,
            ):
                spent = from_nanos(move.spent_after_nanos)
                raised.append(
                    OrgAlertRaised(
                        org_id=move.org_id,
                        alert_id=f"budget:{move.scope}:{move.scope_id}:{move.month}:{pct}",
                        kind="budget",
                        scope=move.scope,
                        scope_id=move.scope_id,
                        threshold_pct=pct,
                        month=move.month,
                        budget_usd=budget,
                        spent_usd=spent,
                        message=budget_alert_message(
                            scope=move.scope,
                            name=name,
                            pct=pct,
                            spent_usd=spent,
                            budget_usd=budget,
                            resets_at=next_reset(now),
                        ),
                        at=now,
                    )
                )
        await self._raise(raised)

    async def _budget_of(self, move: CounterMove) -> tuple[float | None, str]:
        if move.scope == "workspace":
            ws = self.assignments.get(move.scope_id)
            if ws is None or ws.org_id != move.org_id:
                return None, move.scope_id
            return ws.budget_usd_monthly, ws.name or move.scope_id
        key = await self.keys.get_key(org_id=move.org_id, key_id=move.scope_id)
        if key is None:
            return None, move.scope_id
        return key.budget_usd_monthly, key.name

    async def check_expiring(self) -> int:
        """Raise a `key_expiry` alert for every live key expiring within 7 days (once per
        key and expiry); release holds whose result never came."""
        now = self.clock()
        released = await self.store.sweep(now=now)
        if released:
            log.info("released %d budget holds whose result never came", released)
        keys = await self.keys.expiring_keys(before=now + EXPIRY_WARNING)
        raised = [
            OrgAlertRaised(
                org_id=k.org_id,
                alert_id=f"key_expiry:key:{k.id}:{k.expires_at.isoformat()}",
                kind="key_expiry",
                scope="key",
                scope_id=k.id,
                expires_at=k.expires_at,
                message=expiry_alert_message(k, now=now),
                at=now,
            )
            for k in keys
            if k.expires_at is not None and expiring_soon(k, now=now)
        ]
        await self._raise(raised)
        return len(raised)

    async def _raise(self, alerts: list[OrgAlertRaised]) -> None:
        alerts = [a for a in alerts if a.alert_id not in self._raised]
        if not alerts:
            return
        new = await self.store.add_alerts(alerts)
        self._raised.update(a.alert_id for a in alerts)
        for alert in new:
            await self._publish(alert)

    async def _publish(self, alert: OrgAlertRaised) -> None:
        if self.alerts is None:
            return
        try:
            await self.alerts.publish_alert(alert)
        except Exception as exc:
            log.warning("alert not published yet (%s); retried later", type(exc).__name__)
            return
        await self.store.mark_alert_published(alert.alert_id)

    async def flush_alerts(self) -> int:
        """Publish stored alerts that have not reached Kafka yet (the alerts' outbox)."""
        pending = await self.store.unpublished_alerts(limit=500)
        for alert in pending:
            await self._publish(alert)
        return len(pending)

    async def page(
        self, *, org_id: str, limit: int, cursor: str | None
    ) -> tuple[list[OrgAlertRaised], str | None]:
        """One page of the org's alerts, newest first, and the next page's cursor."""
        try:
            before = decode_cursor(cursor) if cursor else None
        except MalformedCursor as exc:
            raise InvalidCursorError(str(exc)) from None
        found = await self.store.list_alerts(org_id=org_id, limit=limit + 1, before=before)
        if len(found) <= limit:
            return found, None
        last = found[limit - 1]
        return found[:limit], encode_cursor(last.at, last.alert_id)

    async def spent_this_month(self, *, org_id: str, key_ids: list[str]) -> dict[str, float]:
        """Each key's settled spend this UTC month (USD)."""
        month = month_of(self.clock())
        ids = {counter_id(org_id, "key", k, month): k for k in key_ids}
        spent = await self.store.spent(list(ids))
        return {k: from_nanos(spent.get(cid, 0)) for cid, k in ids.items()}
