import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import type { ReactElement } from 'react';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router-dom';

export function LocationProbe() {
  const location = useLocation();
  return <output data-testid="location">{location.pathname}</output>;
}

/** Renders `ui` at `route` with a fresh query client (no retries) and a memory router. */
export function renderWithProviders(ui: ReactElement, { route = '/', path = '*' } = {}) {
  const client = new QueryClient({
    defaultOptions: { queries: { retry: false }, mutations: { retry: false } },
  });
  const result = render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[route]} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
        <Routes>
          <Route path={path} element={ui} />
        </Routes>
        <LocationProbe />
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return { ...result, client };
}

export const ME_OWNER = { sub: 'user-owner', org_id: 'org-test', role: 'OWNER', platform_admin: false };

export const PLAN_STARTER = {
  plan: 'starter',
  limits: { provider_keys: 3, workspaces: 3 },
  usage: { provider_keys: 0, workspaces: 0, executions_this_month: 0, cost_usd_this_month: 0 },
};
