import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { stubFetch } from '../../test/fetch-stub';
import { PLAN_STARTER, renderWithProviders } from '../../test/render';
import { expiresIn } from '../../lib/budgets';
import { AiProvidersTab } from './AiProvidersTab';

const DAY = 86_400_000;
const inDays = (n: number) => new Date(Date.now() + n * DAY + 60_000).toISOString();
const KEY = {
  id: 'k1',
  provider: 'anthropic',
  name: 'Capped Claude',
  preview: 'sk-ant-…0000',
  created_at: '2026-11-30T10:00:00Z',
  created_by: 'o',
  last_used_at: null,
  budget_usd_monthly: 100,
  expires_at: inDays(5),
  spent_usd_month: 12.5,
};

function setup() {
  return stubFetch({
    'GET /api/v1/ai-providers': { items: [KEY] },
    'GET /api/v1/workspaces': { items: [] },
    'GET /api/v1/usage': { items: [] },
    'GET /api/v1/catalog': { providers: [] },
    'GET /api/v1/plan': PLAN_STARTER,
    'PATCH /api/v1/ai-providers/k1': (call) => ({ body: { ...KEY, ...(call.body as object) } }),
  });
}

describe('Budget & expiry of a key', () => {
  it('shows the budget, what is spent and "expires in N days" in the key row', async () => {
    setup();
    renderWithProviders(<AiProvidersTab />);
    const row = (await screen.findByText('Capped Claude')).closest('tr')!;
    expect(row).toHaveTextContent('$12.50 of $100.00');
    expect(row).toHaveTextContent('expires in 5 days');
  });

  it('validates, then saves the budget and the expiry', async () => {
    const user = userEvent.setup();
    const api = setup();
    renderWithProviders(<AiProvidersTab />);
    const row = (await screen.findByText('Capped Claude')).closest('tr')!;
    await user.click(within(row).getByRole('button', { name: 'Budget & expiry' }));
    const dialog = screen.getByRole('dialog', { name: 'Budget & expiry' });
    const budget = within(dialog).getByLabelText('Monthly budget (USD)');
    expect(budget).toHaveValue('100');
    await user.clear(budget);
    await user.type(budget, '-3');
    const expiry = within(dialog).getByLabelText('Expires on');
    await user.clear(expiry);
    await user.type(expiry, '2020-01-01');
    await user.click(within(dialog).getByRole('button', { name: 'Save' }));
    expect(within(dialog).getByText('The budget must be more than $0 (leave it empty for no budget).')).toBeInTheDocument();
    expect(within(dialog).getByText('The expiry must be in the future.')).toBeInTheDocument();
    expect(api.sent('PATCH', '/api/v1/ai-providers/k1')).toEqual([]);

    await user.clear(budget);
    await user.type(budget, '250');
    await user.clear(expiry);
    await user.click(within(dialog).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(api.sent('PATCH', '/api/v1/ai-providers/k1')).toHaveLength(1));
    expect(api.sent('PATCH', '/api/v1/ai-providers/k1')[0]?.body).toEqual({
      budget_usd_monthly: 250,
      expires_at: null,
    });
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
  });
});

describe('expiresIn', () => {
  const now = new Date('2026-11-30T12:00:00Z');
  it('counts whole days left, and says when it has expired', () => {
    expect(expiresIn('2026-12-07T12:00:00Z', now)).toBe('expires in 7 days');
    expect(expiresIn('2026-12-01T13:00:00Z', now)).toBe('expires in 1 day');
    expect(expiresIn('2026-11-30T18:00:00Z', now)).toBe('expires today');
    expect(expiresIn('2026-11-30T11:00:00Z', now)).toBe('expired');
    expect(expiresIn(null, now)).toBe('Never');
  });
});
