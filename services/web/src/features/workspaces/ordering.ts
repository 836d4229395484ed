// The keys assigned to a workspace, in the order the runner tries the keys of one provider.

export interface KeyRef {
  id: string;
  provider: string;
}

/** Assigned ids that still exist, in their order. */
export function knownIds(order: string[], keys: KeyRef[]): string[] {
  const known = new Set(keys.map((k) => k.id));
  return order.filter((id, i) => known.has(id) && order.indexOf(id) === i);
}

export function toggle(order: string[], id: string, on: boolean): string[] {
  const without = order.filter((x) => x !== id);
  return on ? [...without, id] : without;
}

/** The checked keys of `provider`, in order. */
export function checkedOf(order: string[], keys: KeyRef[], provider: string): string[] {
  const ofProvider = new Set(keys.filter((k) => k.provider === provider).map((k) => k.id));
  return order.filter((id) => ofProvider.has(id));
}

/**
 * Moves `id` one place up (-1) or down (+1) among the checked keys of its own provider; the
 * positions of other providers' keys do not change.
 */
export function move(order: string[], keys: KeyRef[], id: string, direction: -1 | 1): string[] {
  const provider = keys.find((k) => k.id === id)?.provider;
  if (provider === undefined) return order;
  const same = checkedOf(order, keys, provider);
  const at = same.indexOf(id);
  const to = at + direction;
  if (at < 0 || to < 0 || to >= same.length) return order;
  const other = same[to]!;
  return order.map((x) => (x === id ? other : x === other ? id : x));
}
