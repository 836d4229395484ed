import type { ProviderId } from './api';

export const PROVIDERS: { id: ProviderId; name: string }[] = [
  { id: 'anthropic', name: 'Anthropic' },
  { id: 'openai', name: 'OpenAI' },
  { id: 'google', name: 'Google' },
];

export function providerName(id: string | null | undefined): string {
  return PROVIDERS.find((p) => p.id === id)?.name ?? id ?? 'Unknown provider';
}

/** "an Anthropic", "an OpenAI", "a Google". */
export function withArticle(word: string): string {
  return /^[aeiou]/i.test(word) ? `an ${word}` : `a ${word}`;
}

/**
 * The masked preview of a key as shown in the UI. The API sends it masked already
 * ("sk-ant-…abcd"); anything that does not look masked is cut down to its last 4 characters.
 */
export function displayPreview(preview: string | null | undefined): string {
  if (!preview) return '—';
  if (preview.includes('…')) return preview;
  return `…${preview.slice(-4)}`;
}

/** "$0.00" for nothing, 2 decimals from $1, 4 below (6 for tiny amounts). */
export function formatUsd(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  if (value === 0) return '$0.00';
  const abs = Math.abs(value);
  const digits = abs >= 1 ? 2 : abs >= 0.0001 ? 4 : 6;
  return `$${value.toFixed(digits)}`;
}

export function formatInt(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : value.toLocaleString('en-US');
}

const dateTime = new Intl.DateTimeFormat('en-US', {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

export function formatDateTime(value: string | null | undefined): string {
  if (!value) return '—';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : dateTime.format(date);
}

export function lastUsed(value: string | null | undefined): string {
  return value ? formatDateTime(value) : 'Never';
}

/** Midnight UTC of the first day of this month, RFC 3339. */
export function utcMonthStart(now: Date = new Date()): string {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString();
}
