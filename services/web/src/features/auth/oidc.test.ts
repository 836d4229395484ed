import { beforeEach, describe, expect, it, vi } from 'vitest';
import { PENDING_KEY, authorizationUrl, codeChallenge, completeSignIn, type OidcOptions } from './oidc';

const OPTIONS: OidcOptions = {
  issuer: 'https://id.example.test',
  client_id: 'flowtrux-ui',
  scopes: ['openid', 'email', 'groups'],
  authorization_endpoint: 'https://id.example.test/auth',
  token_endpoint: 'https://id.example.test/token',
};

function b64url(value: object): string {
  return btoa(JSON.stringify(value)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function idToken(claims: object): string {
  return `${b64url({ alg: 'RS256' })}.${b64url(claims)}.sig`;
}

async function start() {
  const url = new URL(await authorizationUrl(OPTIONS, 'http://127.0.0.1:8080', '/settings'));
  return { url, pending: JSON.parse(window.sessionStorage.getItem(PENDING_KEY) ?? '{}') };
}

function tokenAnswer(claims: object, extra: object = {}) {
  return vi.fn(async () =>
    new Response(JSON.stringify({ access_token: 'access-1', id_token: idToken(claims), ...extra }), {
      status: 200,
      headers: { 'content-type': 'application/json' },
    }),
  );
}

beforeEach(() => window.sessionStorage.clear());

describe('OIDC sign-in (Authorization Code + PKCE)', () => {
  it('sends the browser to the provider with an S256 challenge of a stored verifier, state and nonce', async () => {
    const { url, pending } = await start();
    expect(url.origin + url.pathname).toBe('https://id.example.test/auth');
    expect(url.searchParams.get('response_type')).toBe('code');
    expect(url.searchParams.get('client_id')).toBe('flowtrux-ui');
    expect(url.searchParams.get('redirect_uri')).toBe('http://127.0.0.1:8080/auth/callback');
    expect(url.searchParams.get('scope')).toBe('openid email groups');
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('code_challenge')).toBe(await codeChallenge(pending.verifier));
    expect(url.searchParams.get('state')).toBe(pending.state);
    expect(url.searchParams.get('nonce')).toBe(pending.nonce);
    expect(pending.verifier).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
    expect(url.toString()).not.toContain(pending.verifier);
  });

  it('the S256 challenge is BASE64URL(SHA-256(verifier)) without padding', async () => {
    // computed independently: python3 -c 'base64.urlsafe_b64encode(hashlib.sha256(v).digest())'
    expect(await codeChallenge('dBjftJeZ4CVP-mJ92K9_1jjZ0-oHB7Dw6N3xCmwy2fJp8')).toBe(
      'vOcKZ_1bykc0PAQVitF8uoqzfsJD15s7WPiy-CtpQuc',
    );
  });

  it('exchanges the code with the verifier and returns the access token', async () => {
    const { pending } = await start();
    const fetchFn = tokenAnswer({ iss: OPTIONS.issuer, aud: 'flowtrux-ui', nonce: pending.nonce });
    const done = await completeSignIn(`?code=the-code&state=${pending.state}`, fetchFn);
    expect(done).toEqual({ token: 'access-1', returnTo: '/settings' });
    const [endpoint, init] = fetchFn.mock.calls[0] as unknown as [string, RequestInit];
    expect(endpoint).toBe(OPTIONS.token_endpoint);
    const form = new URLSearchParams(String(init.body));
    expect(Object.fromEntries(form)).toEqual({
      grant_type: 'authorization_code',
      code: 'the-code',
      redirect_uri: 'http://127.0.0.1:8080/auth/callback',
      client_id: 'flowtrux-ui',
      code_verifier: pending.verifier,
    });
    expect(window.sessionStorage.getItem(PENDING_KEY)).toBeNull();
  });

  it('refuses a callback whose state is not this sign-in’s, without calling the provider', async () => {
    await start();
    const fetchFn = tokenAnswer({});
    await expect(completeSignIn('?code=c&state=forged', fetchFn)).rejects.toThrow(/state/);
    expect(fetchFn).not.toHaveBeenCalled();
  });

  it('refuses an identity token with another nonce, issuer or audience', async () => {
    for (const claims of [
      { iss: OPTIONS.issuer, aud: 'flowtrux-ui', nonce: 'replayed' },
      { iss: 'https://evil.example.test', aud: 'flowtrux-ui', nonce: null },
      { iss: OPTIONS.issuer, aud: 'other-app', nonce: null },
    ]) {
      const { pending } = await start();
      const fetchFn = tokenAnswer({ ...claims, nonce: claims.nonce ?? pending.nonce });
      await expect(completeSignIn(`?code=c&state=${pending.state}`, fetchFn)).rejects.toThrow(
        /nonce|configured provider/,
      );
    }
  });

  it('says why when the provider refused, and a used-up callback cannot be replayed', async () => {
    const { pending } = await start();
    await expect(
      completeSignIn(`?error=access_denied&error_description=Denied&state=${pending.state}`),
    ).rejects.toThrow('The identity provider did not sign you in: Denied');
    await expect(completeSignIn(`?code=c&state=${pending.state}`)).rejects.toThrow(/not started in this tab/);
  });
});
