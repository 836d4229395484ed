// Sign-in with the organization's OIDC provider: Authorization Code + PKCE (S256) for a
// public client. Between leaving for the provider and coming back to /auth/callback, the
// PKCE verifier, state and nonce live in sessionStorage only (this tab); the code is
// exchanged at the provider's token endpoint from the browser, and the access token then
// lives in sessionStorage as every token of this UI does.
import type { components } from '../../api/schema';

export type OidcOptions = components['schemas']['OidcOptions'];

export const CALLBACK_PATH = '/auth/callback';
export const PENDING_KEY = 'flowtrux.oidc.pending';

interface Pending {
  state: string;
  nonce: string;
  verifier: string;
  issuer: string;
  client_id: string;
  token_endpoint: string;
  redirect_uri: string;
  return_to: string;
}

/** A sign-in that cannot complete; the message says what to do. */
export class OidcError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OidcError';
  }
}

function base64url(bytes: Uint8Array): string {
  let binary = '';
  bytes.forEach((b) => {
    binary += String.fromCharCode(b);
  });
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(bytes = 32): string {
  const buffer = new Uint8Array(bytes);
  crypto.getRandomValues(buffer);
  return base64url(buffer);
}

/** The S256 code challenge of a PKCE verifier (RFC 7636). */
export async function codeChallenge(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/**
 * Where to send the browser to sign in; remembers this attempt's verifier, state and nonce
 * for the callback. `origin` is the gateway's own origin (the redirect URI's).
 */
export async function authorizationUrl(
  options: OidcOptions,
  origin: string,
  returnTo: string,
): Promise<string> {
  const pending: Pending = {
    state: randomString(),
    nonce: randomString(),
    verifier: randomString(48),
    issuer: options.issuer,
    client_id: options.client_id,
    token_endpoint: options.token_endpoint,
    redirect_uri: `${origin}${CALLBACK_PATH}`,
    return_to: returnTo,
  };
  window.sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(options.authorization_endpoint);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', options.client_id);
  url.searchParams.set('redirect_uri', pending.redirect_uri);
  url.searchParams.set('scope', options.scopes.join(' '));
  url.searchParams.set('state', pending.state);
  url.searchParams.set('nonce', pending.nonce);
  url.searchParams.set('code_challenge', await codeChallenge(pending.verifier));
  url.searchParams.set('code_challenge_method', 'S256');
  return url.toString();
}

function claimsOf(jwt: unknown): Record<string, unknown> {
  const parts = typeof jwt === 'string' ? jwt.split('.') : [];
  if (parts.length !== 3 || !parts[1]) {
    throw new OidcError('The identity provider returned no identity token. Sign in again.');
  }
  const payload = parts[1].replace(/-/g, '+').replace(/_/g, '/');
  try {
    return JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, '='))) as Record<
      string,
      unknown
    >;
  } catch {
    throw new OidcError('The identity token cannot be read. Sign in again.');
  }
}

/**
 * Completes the sign-in at /auth/callback: checks `state`, exchanges the code (with the PKCE
 * verifier) at the token endpoint, checks the identity token's `nonce`, `iss` and `aud`.
 * Returns the access token and where to go next. The pending attempt is used up either way.
 */
export async function completeSignIn(
  search: string,
  fetchFn: typeof fetch = (...args) => globalThis.fetch(...args),
): Promise<{ token: string; returnTo: string }> {
  const params = new URLSearchParams(search);
  const raw = window.sessionStorage.getItem(PENDING_KEY);
  window.sessionStorage.removeItem(PENDING_KEY);
  if (!raw) {
    throw new OidcError('This sign-in was not started in this tab, or was already used. Sign in again.');
  }
  const pending = JSON.parse(raw) as Pending;
  const error = params.get('error');
  if (error) {
    const why = params.get('error_description') ?? error;
    throw new OidcError(`The identity provider did not sign you in: ${why}`);
  }
  if (!params.get('state') || params.get('state') !== pending.state) {
    throw new OidcError('The sign-in answer does not belong to this sign-in (state). Sign in again.');
  }
  const code = params.get('code');
  if (!code) throw new OidcError('The identity provider sent no authorization code. Sign in again.');
  let response: Response;
  try {
    response = await fetchFn(pending.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: pending.redirect_uri,
        client_id: pending.client_id,
        code_verifier: pending.verifier,
      }).toString(),
    });
  } catch {
    throw new OidcError('Cannot reach the identity provider to finish signing in. Try again.');
  }
  if (!response.ok) {
    throw new OidcError(
      `The identity provider did not issue a token (HTTP ${response.status}). Sign in again.`,
    );
  }
  const tokens = (await response.json()) as { access_token?: unknown; id_token?: unknown };
  const claims = claimsOf(tokens.id_token);
  if (claims.nonce !== pending.nonce) {
    throw new OidcError('The identity token does not belong to this sign-in (nonce). Sign in again.');
  }
  const audience = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (claims.iss !== pending.issuer || !audience.includes(pending.client_id)) {
    throw new OidcError('The identity token is not from the configured provider. Sign in again.');
  }
  if (typeof tokens.access_token !== 'string' || !tokens.access_token) {
    throw new OidcError('The identity provider returned no access token. Sign in again.');
  }
  return { token: tokens.access_token, returnTo: pending.return_to };
}
