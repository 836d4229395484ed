export const NAME_MESSAGE = 'Name must be 1–64 characters.';

/** The problem with a name (of a key, a workspace), or null. Counted in characters (code points), trimmed. */
export function nameProblem(name: string): string | null {
  const length = Array.from(name.trim()).length;
  return length < 1 || length > 64 ? NAME_MESSAGE : null;
}
