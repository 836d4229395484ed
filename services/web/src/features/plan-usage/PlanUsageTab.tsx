import { useId, useState } from 'react';
import { DataTable, QueryStatus } from '../../components/DataTable';
import { FilterSelect } from '../../components/FilterSelect';
import { Section } from '../../components/Section';
import { formatInt, formatUsd } from '../../lib/format';
import { usePlan, useProviderKeys, useWorkspaces } from '../../lib/queries';
import { AlertBanner } from './AlertBanner';
import { useUsage, type GroupBy } from './api';
import { CostChart, type Series } from './CostChart';
import { PERIODS, daysFrom, periodStart, type Period } from './period';

const GROUPS: { id: GroupBy; label: string }[] = [
  { id: 'key', label: 'Key' },
  { id: 'workspace', label: 'Workspace' },
  { id: 'model', label: 'Model' },
];

function Meter({ label, used, limit }: { label: string; used: number; limit: number | null }) {
  const id = useId();
  const text = limit === null ? `${label}: ${used} (unlimited)` : `${label}: ${used} of ${limit}`;
  const share = limit === null || limit === 0 ? 0 : Math.min(100, (used / limit) * 100);
  return (
    <div className="meter">
      <span id={id}>{text}</span>
      <div
        role="progressbar"
        aria-labelledby={id}
        aria-valuemin={0}
        aria-valuenow={used}
        aria-valuemax={limit ?? undefined}
        className={limit !== null && used >= limit ? 'bar bar-full' : 'bar'}
      >
        <span className="bar-fill" style={{ width: `${share}%` }} />
      </div>
    </div>
  );
}

export function PlanUsageTab() {
  const plan = usePlan();
  const headingId = useId();
  return (
    <>
      <AlertBanner />
      <section aria-labelledby={headingId}>
        <QueryStatus errors={[plan.error]} pending={plan.isPending} what="plan" />
        <h2 id={headingId}>{plan.data ? `Plan: ${plan.data.plan}` : 'Plan'}</h2>
        {plan.data && (
          <>
            <Meter label="Provider keys" used={plan.data.usage.provider_keys} limit={plan.data.limits.provider_keys} />
            <Meter label="Workspaces" used={plan.data.usage.workspaces} limit={plan.data.limits.workspaces} />
            <p>{`Executions this month: ${plan.data.usage.executions_this_month}`}</p>
            <p>{`Cost this month: ${formatUsd(plan.data.usage.cost_usd_this_month)}`}</p>
          </>
        )}
      </section>
      <UsageSection />
    </>
  );
}

function UsageSection() {
  const [period, setPeriod] = useState<Period>('30d');
  const [groupBy, setGroupBy] = useState<GroupBy>('key');
  const since = periodStart(period);
  const daily = useUsage('key', since, true);
  const totals = useUsage(groupBy, since, false);
  const keys = useProviderKeys();
  const workspaces = useWorkspaces();

  const keyName = (id: string) => keys.data?.find((k) => k.id === id)?.name ?? id;
  const workspaceName = (id: string) => workspaces.data?.find((w) => w.id === id)?.name ?? id;
  const groupName = (row: { key_id?: string | null; workspace_id?: string | null; model?: string | null }) => {
    if (groupBy === 'key') return keyName(row.key_id ?? '—');
    if (groupBy === 'workspace') return workspaceName(row.workspace_id ?? '—');
    return row.model ?? '—';
  };

  const days = daysFrom(since);
  const series: Series[] = [];
  const byKey = new Map<string, number[]>();
  for (const row of daily.data ?? []) {
    if (!row.key_id || !row.day) continue;
    const index = days.indexOf(row.day);
    if (index < 0) continue;
    const values = byKey.get(row.key_id) ?? days.map(() => 0);
    values[index] = (values[index] ?? 0) + (row.cost_usd ?? 0);
    byKey.set(row.key_id, values);
  }
  for (const [keyId, values] of byKey) series.push({ name: keyName(keyId), values });
  series.sort((a, b) => a.name.localeCompare(b.name));

  const rows = totals.data ?? [];
  const groupLabel = GROUPS.find((g) => g.id === groupBy)?.label ?? 'Group';
  const empty = totals.data !== undefined && rows.length === 0;

  return (
    <Section title="Usage" className="usage">
      <div className="filters">
        <FilterSelect label="Period" value={period} options={PERIODS} onChange={setPeriod} />
        <FilterSelect label="Group by" value={groupBy} options={GROUPS} onChange={setGroupBy} />
      </div>
      <QueryStatus errors={[daily.error, totals.error]} pending={daily.isPending || totals.isPending} what="usage" />
      {empty && <p>No usage in this period.</p>}
      {!empty && series.length > 0 && <CostChart days={days} series={series} />}
      {!empty && rows.length > 0 && (
        <DataTable caption="Usage" columns={[groupLabel, 'Executions', 'Input tokens', 'Output tokens', 'Cost']}>
              {rows.map((row) => {
                const name = groupName(row);
                return (
                  <tr key={`${row.key_id ?? ''}|${row.workspace_id ?? ''}|${row.model ?? ''}`}>
                    <td>{name}</td>
                    <td className="num">{formatInt(row.executions)}</td>
                    <td className="num">{formatInt(row.input_tokens)}</td>
                    <td className="num">{formatInt(row.output_tokens)}</td>
                    <td className="num">{formatUsd(row.cost_usd)}</td>
                  </tr>
                );
              })}
        </DataTable>
      )}
    </Section>
  );
}
