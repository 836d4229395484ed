import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryRouter } from 'react-router-dom';
import { UNREACHABLE } from '../lib/api';
import { TOKEN_KEY, resetSessionFromStorage } from '../lib/session';
import { problem, stubFetch, type Routes } from '../test/fetch-stub';
import { LocationProbe, PLAN_STARTER } from '../test/render';
import { App } from './App';

function renderApp(route: string) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[route]} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
        <App />
        <LocationProbe />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

function signedIn(role: string, extra: Routes = {}) {
  window.sessionStorage.setItem(TOKEN_KEY, 'header.payload.signature');
  resetSessionFromStorage();
  return stubFetch({
    'GET /api/v1/me': { sub: `user-${role.toLowerCase()}`, org_id: 'org-test', role, platform_admin: false },
    'GET /api/v1/workspaces': { items: [{ id: 'ws-1', name: 'Visible to all', ai_provider_ids: [], created_at: '2026-11-30T10:00:00Z' }] },
    'GET /api/v1/ai-providers': { items: [] },
    'GET /api/v1/usage': { items: [] },
    'GET /api/v1/catalog': { providers: [] },
    'GET /api/v1/plan': PLAN_STARTER,
    ...extra,
  });
}

beforeEach(() => {
  window.sessionStorage.clear();
  resetSessionFromStorage();
});

describe('the role gate', () => {
  it.each(['MEMBER', 'ADMIN'])('%s sees "Requires OWNER role" instead of Settings', async (role) => {
    const api = signedIn(role);
    renderApp('/settings/ai-providers');
    const banner = await screen.findByRole('banner');
    expect(await within(banner).findByText(`user-${role.toLowerCase()}`)).toBeInTheDocument();
    expect(banner).toHaveTextContent('org-test');
    expect(banner).toHaveTextContent(role);
    const nav = screen.getByRole('navigation', { name: 'Main' });
    expect(within(nav).getByRole('link', { name: 'Workspaces' })).toBeInTheDocument();
    expect(within(nav).queryByRole('link', { name: /Settings/ })).not.toBeInTheDocument();
    expect(within(nav).getByText('Settings')).toHaveAttribute('aria-disabled', 'true');
    expect(within(nav).getByText('Requires OWNER role')).toBeInTheDocument();
    const main = screen.getByRole('main');
    expect(within(main).getByText('Requires OWNER role')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Add Provider' })).not.toBeInTheDocument();
    expect(screen.queryByRole('table', { name: 'Provider keys' })).not.toBeInTheDocument();
    expect(api.sent('GET', '/api/v1/ai-providers')).toEqual([]);
  });

  it('an OWNER gets the Settings link and its tabs', async () => {
    const user = userEvent.setup();
    signedIn('OWNER');
    renderApp('/settings');
    expect(await screen.findByRole('heading', { level: 1, name: 'Settings' })).toBeInTheDocument();
    expect(screen.getByTestId('location')).toHaveTextContent('/settings/ai-providers');
    const tabs = screen.getAllByRole('tab').map((t) => [t.textContent, t.getAttribute('aria-selected')]);
    expect(tabs).toEqual([
      ['AI Providers', 'true'],
      ['Workspaces', 'false'],
      ['Plan & Usage', 'false'],
      ['Audit log', 'false'],
    ]);
    await user.click(screen.getByRole('tab', { name: 'Plan & Usage' }));
    expect(screen.getByTestId('location')).toHaveTextContent('/settings/plan');
    expect(screen.getByRole('tab', { name: 'Plan & Usage' })).toHaveAttribute('aria-selected', 'true');
    expect(await screen.findByRole('progressbar', { name: 'Provider keys: 0 of 3' })).toHaveAttribute('aria-valuemax', '3');
    const nav = screen.getByRole('navigation', { name: 'Main' });
    expect(within(nav).getByRole('link', { name: 'Settings' })).toHaveAttribute('href', '/settings/ai-providers');
  });
});

describe('signing in and out', () => {
  it('without a token shows "Sign in", with the dev sign-in when offered', async () => {
    const user = userEvent.setup();
    const api = stubFetch({
      'GET /api/v1/auth/options': { dev_sign_in: true },
      'POST /api/v1/dev/sign-in': { token: 'dev.token.value' },
      'GET /api/v1/me': { sub: 'dev-user', org_id: 'org-x', role: 'ADMIN', platform_admin: false },
      'GET /api/v1/workspaces': { items: [] },
    });
    renderApp('/');
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeInTheDocument();
    expect(screen.getByLabelText('Access token')).toBeInTheDocument();
    expect(await screen.findByLabelText('Organization')).toHaveValue('org-dev');
    const role = screen.getByLabelText('Role');
    expect(within(role).getAllByRole('option').map((o) => o.textContent)).toEqual(['OWNER', 'ADMIN', 'MEMBER']);
    await user.clear(screen.getByLabelText('Organization'));
    await user.type(screen.getByLabelText('Organization'), 'org-x');
    await user.selectOptions(role, 'ADMIN');
    await user.click(screen.getByRole('button', { name: 'Dev sign-in' }));
    expect(await screen.findByRole('banner')).toHaveTextContent('org-x');
    expect(api.sent('POST', '/api/v1/dev/sign-in').map((c) => c.body)).toEqual([{ org_id: 'org-x', role: 'ADMIN' }]);
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBe('dev.token.value');
    // the navigation is a transition (v7_startTransition): it may land a render after the banner
    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent('/workspaces'));

    await user.click(screen.getByRole('button', { name: 'Sign out' }));
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeInTheDocument();
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBeNull();
  });

  it('offers the organization\'s OIDC provider when configured, and the callback checks the sign-in', async () => {
    stubFetch({
      'GET /api/v1/auth/options': {
        dev_sign_in: false,
        oidc: {
          issuer: 'https://id.example.test',
          client_id: 'flowtrux-ui',
          scopes: ['openid'],
          authorization_endpoint: 'https://id.example.test/auth',
          token_endpoint: 'https://id.example.test/token',
        },
      },
    });
    renderApp('/');
    expect(await screen.findByRole('button', { name: 'Sign in with your organization' })).toBeEnabled();
    expect(screen.queryByRole('button', { name: 'Dev sign-in' })).not.toBeInTheDocument();
    cleanup();
    // A callback this tab did not start is refused with a way back.
    renderApp('/auth/callback?code=c&state=s');
    expect(await screen.findByRole('alert')).toHaveTextContent(/not started in this tab/);
    expect(screen.getByRole('button', { name: 'Back to sign-in' })).toBeInTheDocument();
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBeNull();
  });

  it('a 401 returns to "Sign in" with the expired-session alert', async () => {
    signedIn('OWNER', {
      'GET /api/v1/me': () => problem(401, 'unauthorized', 'The token has expired.'),
      'GET /api/v1/auth/options': { dev_sign_in: false },
    });
    renderApp('/settings/ai-providers');
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeInTheDocument();
    expect(screen.getByRole('alert')).toHaveTextContent('Your session has expired. Sign in again.');
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBeNull();
    expect(screen.queryByLabelText('Organization')).not.toBeInTheDocument();
  });

  it.each([
    ['a network error', () => Promise.reject(new TypeError('Failed to fetch'))],
    ['502 without a problem body', () => Promise.resolve(new Response('Bad Gateway', { status: 502, headers: { 'content-type': 'text/plain' } }))],
  ])('an API that does not answer (%s) shows an alert, not a blank page', async (_, answer) => {
    vi.stubGlobal('fetch', vi.fn(answer));
    window.sessionStorage.setItem(TOKEN_KEY, 'header.payload.signature');
    resetSessionFromStorage();
    const { unmount } = renderApp('/workspaces');
    expect(await screen.findByRole('alert')).toHaveTextContent(UNREACHABLE);
    unmount();

    window.sessionStorage.clear();
    resetSessionFromStorage();
    renderApp('/');
    expect(await screen.findByRole('alert')).toHaveTextContent(UNREACHABLE);
    expect(screen.getByRole('heading', { name: 'Sign in' })).toBeInTheDocument();
  });
});
