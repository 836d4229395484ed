// Load balancing per provider (issue 16): `ordered` (failover in the order shown, the default)
// or `round_robin` with optional weights 1–100, and the max_tokens cap of test runs.
import type { Schemas } from '../../lib/api';

export type Strategy = 'ordered' | 'round_robin';
export type RoutingIn = NonNullable<Schemas['WorkspaceUpdate']['routing']>;
/** The form's state of one provider: weights as typed (strings) by key id. */
export interface ProviderChoice {
  strategy: Strategy;
  weights: Record<string, string>;
}
export type RoutingForm = Record<string, ProviderChoice>;

export const WEIGHT_MIN = 1;
export const WEIGHT_MAX = 100;
export const CAP_MAX = 200_000;

export function routingForm(routing: Schemas['Workspace']['routing'] | undefined): RoutingForm {
  const form: RoutingForm = {};
  for (const [provider, rule] of Object.entries(routing ?? {})) {
    const weights: Record<string, string> = {};
    for (const [id, weight] of Object.entries(rule.weights ?? {})) weights[id] = String(weight);
    form[provider] = { strategy: rule.strategy, weights };
  }
  return form;
}

function wholeIn(text: string, min: number, max: number): number | null {
  if (!/^\d+$/.test(text.trim())) return null;
  const value = Number(text.trim());
  return value >= min && value <= max ? value : null;
}

export function weightProblem(text: string): string | null {
  if (text.trim() === '') return null; // unset: weighs 1
  return wholeIn(text, WEIGHT_MIN, WEIGHT_MAX) === null
    ? `Enter a whole number from ${WEIGHT_MIN} to ${WEIGHT_MAX}.`
    : null;
}

export function capProblem(text: string): string | null {
  if (text.trim() === '') return null; // no cap
  return wholeIn(text, 1, CAP_MAX) === null
    ? `Enter a whole number from 1 to ${CAP_MAX.toLocaleString('en-US')}, or leave it empty for no cap.`
    : null;
}

export function capValue(text: string): number | null {
  return text.trim() === '' ? null : wholeIn(text, 1, CAP_MAX);
}

/**
 * The routing to send: one entry per provider that has checked keys; weights only for
 * round robin and only for checked keys of that provider.
 */
export function routingBody(form: RoutingForm, checkedByProvider: Record<string, string[]>): RoutingIn {
  const body: RoutingIn = {};
  for (const [provider, checked] of Object.entries(checkedByProvider)) {
    if (checked.length === 0) continue;
    const choice = form[provider] ?? { strategy: 'ordered', weights: {} };
    if (choice.strategy === 'ordered') {
      body[provider as keyof RoutingIn] = { strategy: 'ordered' };
      continue;
    }
    const weights: Record<string, number> = {};
    for (const id of checked) {
      const value = wholeIn(choice.weights[id] ?? '', WEIGHT_MIN, WEIGHT_MAX);
      if (value !== null) weights[id] = value;
    }
    body[provider as keyof RoutingIn] = { strategy: 'round_robin', weights };
  }
  return body;
}
