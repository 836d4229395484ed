import { useId } from 'react';
import { QueryStatus } from '../../components/DataTable';
import type { Schemas } from '../../lib/api';
import { useAlerts } from './api';

type Alert = Schemas['Alert'];

function currentMonth(now: Date): string {
  return now.toISOString().slice(0, 7);
}

/**
 * Which alerts still matter: budget alerts of this UTC month (the highest threshold per budget)
 * and expiry alerts of keys that have not expired yet.
 */
export function activeAlerts(alerts: Alert[], now: Date = new Date()): Alert[] {
  const month = currentMonth(now);
  const budgets = new Map<string, Alert>();
  const expiring: Alert[] = [];
  for (const alert of alerts) {
    if (alert.kind === 'budget') {
      if (alert.month !== month) continue;
      const scope = `${alert.scope}:${alert.scope_id}`;
      const seen = budgets.get(scope);
      if (!seen || (alert.threshold_pct ?? 0) > (seen.threshold_pct ?? 0)) budgets.set(scope, alert);
    } else if (alert.expires_at && new Date(alert.expires_at).getTime() > now.getTime()) {
      expiring.push(alert);
    }
  }
  return [...budgets.values(), ...expiring];
}

/** The banner on Plan & Usage: budgets at 50/80/100 % this month and keys about to expire. */
export function AlertBanner({ now }: { now?: Date }) {
  const alerts = useAlerts();
  const headingId = useId();
  const shown = alerts.data ? activeAlerts(alerts.data, now) : [];
  return (
    <>
      <QueryStatus errors={[alerts.error]} pending={false} what="alerts" />
      {shown.length > 0 && (
        <section aria-labelledby={headingId} className={`alert ${shown.some((a) => a.threshold_pct === 100) ? 'alert-error' : 'alert-info'}`}>
          <h2 id={headingId}>Budget and key alerts</h2>
          <ul>
            {shown.map((alert) => (
              <li key={alert.alert_id}>{alert.message}</li>
            ))}
          </ul>
        </section>
      )}
    </>
  );
}
