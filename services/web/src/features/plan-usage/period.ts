export type Period = '7d' | '30d' | 'month';

export const PERIODS: { id: Period; label: string }[] = [
  { id: '7d', label: 'Last 7 days' },
  { id: '30d', label: 'Last 30 days' },
  { id: 'month', label: 'This month' },
];

/** Start (RFC 3339, midnight UTC) of a period ending today. */
export function periodStart(period: Period, now: Date = new Date()): string {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const day = 86_400_000;
  if (period === 'month') return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString();
  return new Date(today - (period === '7d' ? 6 : 29) * day).toISOString();
}

/** Every UTC day (YYYY-MM-DD) from `since` to today. */
export function daysFrom(since: string, now: Date = new Date()): string[] {
  const days: string[] = [];
  const end = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  for (let t = Date.parse(since); t <= end; t += 86_400_000) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}
