/** Monthly budgets and key expiry, as the Settings UI reads and writes them (issue 16). */
import { formatUsd } from './format';

export const BUDGET_MAX_USD = 10_000_000;
const DAY_MS = 86_400_000;

/** The problem with a budget typed into a field ('' = no budget), or null. */
export function budgetProblem(text: string): string | null {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  const value = Number(trimmed);
  if (!Number.isFinite(value)) return 'Enter an amount in US dollars, e.g. 250, or leave it empty for no budget.';
  if (value <= 0) return 'The budget must be more than $0 (leave it empty for no budget).';
  if (value > BUDGET_MAX_USD) return 'The budget can be at most $10,000,000 per month.';
  return null;
}

/** The budget to send: a number, or null for none. Check `budgetProblem` first. */
export function parseBudget(text: string): number | null {
  const trimmed = text.trim();
  return trimmed === '' ? null : Number(trimmed);
}

export function budgetField(value: number | null | undefined): string {
  return value === null || value === undefined ? '' : String(value);
}

/** "$12.50 of $100.00" or "No budget". */
export function budgetText(spent: number | null | undefined, budget: number | null | undefined): string {
  if (budget === null || budget === undefined) return 'No budget';
  return `${formatUsd(spent ?? 0)} of ${formatUsd(budget)}`;
}

/** "expires in 3 days", "expires in 1 day", "expires today", "expired", or "Never". */
export function expiresIn(expiresAt: string | null | undefined, now: Date = new Date()): string {
  if (!expiresAt) return 'Never';
  const at = new Date(expiresAt).getTime();
  if (Number.isNaN(at)) return expiresAt;
  const left = at - now.getTime();
  if (left <= 0) return 'expired';
  const days = Math.floor(left / DAY_MS);
  if (days === 0) return 'expires today';
  return `expires in ${days} day${days === 1 ? '' : 's'}`;
}

/** The expiry date field's value (YYYY-MM-DD, UTC) for an RFC 3339 time. */
export function expiryField(expiresAt: string | null | undefined): string {
  return expiresAt ? new Date(expiresAt).toISOString().slice(0, 10) : '';
}

/** The problem with an expiry date ('' = never), or null: it must be after today (UTC). */
export function expiryProblem(date: string, now: Date = new Date()): string | null {
  if (date === '') return null;
  const at = new Date(`${date}T00:00:00Z`).getTime();
  if (Number.isNaN(at)) return 'Enter a date, or leave it empty if the key does not expire.';
  if (at <= now.getTime()) return 'The expiry must be in the future.';
  return null;
}

/** The expiry to send: the start (00:00 UTC) of the chosen day, or null for never. */
export function parseExpiry(date: string): string | null {
  return date === '' ? null : `${date}T00:00:00Z`;
}
