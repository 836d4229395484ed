export { NAME_MESSAGE, nameProblem } from '../../lib/validation';

export const KEY_MESSAGE = 'Paste the API key.';

export function keyProblem(key: string): string | null {
  return key.trim() === '' ? KEY_MESSAGE : null;
}
