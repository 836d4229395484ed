// The signed-in session: the bearer token lives only in sessionStorage["flowtrux.token"].
import { useSyncExternalStore } from 'react';

export const TOKEN_KEY = 'flowtrux.token';

export type SignOutReason = 'expired' | 'signed-out';

interface SessionState {
  token: string | null;
  /** Why the last session ended, shown on the sign-in screen. */
  ended: SignOutReason | null;
}

const listeners = new Set<() => void>();
let state: SessionState = { token: readToken(), ended: null };

function readToken(): string | null {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function emit(next: SessionState): void {
  state = next;
  listeners.forEach((listener) => listener());
}

export function getToken(): string | null {
  return state.token;
}

export function signIn(token: string): void {
  const trimmed = token.trim();
  window.sessionStorage.setItem(TOKEN_KEY, trimmed);
  emit({ token: trimmed, ended: null });
}

export function signOut(reason: SignOutReason = 'signed-out'): void {
  window.sessionStorage.removeItem(TOKEN_KEY);
  if (state.token === null && state.ended === reason) return;
  emit({ token: null, ended: reason });
}

/** A 401 from the API: the token is no longer good. */
export function sessionExpired(): void {
  if (state.token !== null) signOut('expired');
}

/**
 * Takes `#token=<jwt>` off the address bar (history.replaceState) and keeps the token.
 * Returns whether a token was found. Called before the app renders anything.
 */
export function consumeTokenFragment(): boolean {
  const hash = window.location.hash.replace(/^#/, '');
  if (!hash) return false;
  const params = new URLSearchParams(hash);
  const token = params.get('token');
  if (token === null) return false;
  params.delete('token');
  const rest = params.toString();
  const url = window.location.pathname + window.location.search + (rest ? `#${rest}` : '');
  window.history.replaceState(window.history.state, '', url);
  if (token.trim()) signIn(token);
  return true;
}

/** Re-reads sessionStorage (tests, other tabs are not shared: sessionStorage is per tab). */
export function resetSessionFromStorage(): void {
  emit({ token: readToken(), ended: null });
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function useSession(): SessionState {
  return useSyncExternalStore(subscribe, () => state);
}
