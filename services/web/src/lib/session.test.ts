import { beforeEach, describe, expect, it } from 'vitest';
import { TOKEN_KEY, consumeTokenFragment, getToken, resetSessionFromStorage, sessionExpired, signOut } from './session';

describe('the #token= fragment', () => {
  beforeEach(() => {
    window.sessionStorage.clear();
    resetSessionFromStorage();
  });

  it('is stored in sessionStorage and removed from the address bar', () => {
    window.history.replaceState(null, '', '/settings/ai-providers?x=1#token=eyJ.test.jwt');
    expect(consumeTokenFragment()).toBe(true);
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBe('eyJ.test.jwt');
    expect(getToken()).toBe('eyJ.test.jwt');
    expect(window.location.hash).toBe('');
    expect(window.location.pathname + window.location.search).toBe('/settings/ai-providers?x=1');
    expect(window.location.href).not.toContain('token');
  });

  it('leaves other fragments alone', () => {
    window.history.replaceState(null, '', '/workspaces#section');
    expect(consumeTokenFragment()).toBe(false);
    expect(window.location.hash).toBe('#section');
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBeNull();
  });

  it('a 401 or "Sign out" removes the token', () => {
    window.history.replaceState(null, '', '/#token=abc');
    consumeTokenFragment();
    sessionExpired();
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBeNull();
    expect(getToken()).toBeNull();
    window.history.replaceState(null, '', '/#token=def');
    consumeTokenFragment();
    signOut();
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBeNull();
  });

  it('nothing else is stored anywhere', () => {
    window.history.replaceState(null, '', '/#token=abc');
    consumeTokenFragment();
    expect(Object.keys(window.sessionStorage)).toEqual([TOKEN_KEY]);
    // eslint-disable-next-line no-restricted-properties -- asserting that nothing is there
    expect(window.localStorage.length).toBe(0);
  });
});
