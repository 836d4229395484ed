export const NAME_MESSAGE = 'Name must be 1–64 characters.';
export const KEY_MESSAGE = 'Paste the API key.';

/** The name problem, or null. Counted in characters (code points), trimmed. */
export function nameProblem(name: string): string | null {
  const length = Array.from(name.trim()).length;
  return length < 1 || length > 64 ? NAME_MESSAGE : null;
}

export function keyProblem(key: string): string | null {
  return key.trim() === '' ? KEY_MESSAGE : null;
}
