import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { stubFetch } from '../../test/fetch-stub';
import { renderWithProviders } from '../../test/render';
import { move, toggle } from './ordering';
import { WorkspacesTab } from './WorkspacesTab';

const key = (id: string, provider: string, name: string) => ({
  id,
  provider,
  name,
  preview: 'sk-…0000',
  created_at: '2026-11-30T10:00:00Z',
  created_by: 'owner',
  last_used_at: null,
});
const KEYS = [key('a1', 'anthropic', 'Claude one'), key('a2', 'anthropic', 'Claude two'), key('o1', 'openai', 'GPT one')];
const WORKSPACE = { id: 'ws-1', name: 'Marketing', ai_provider_ids: ['a1', 'o1', 'a2'], created_at: '2026-11-30T10:00:00Z' };

function setup() {
  const api = stubFetch({
    'GET /api/v1/workspaces': { items: [WORKSPACE] },
    'GET /api/v1/ai-providers': { items: KEYS },
    'PATCH /api/v1/workspaces/ws-1': (call) => ({ body: { ...WORKSPACE, ...(call.body as object) } }),
  });
  renderWithProviders(<WorkspacesTab />);
  return api;
}

function item(dialog: HTMLElement, name: string): HTMLElement {
  return within(dialog).getByRole('checkbox', { name }).closest('li')!;
}

describe('Edit workspace', () => {
  it('edits the monthly budget and refuses an absurd one', async () => {
    const user = userEvent.setup();
    const api = setup();
    const row = (await screen.findByText('Marketing')).closest('tr')!;
    await waitFor(() => expect(within(row).getByRole('button', { name: 'Edit' })).toBeEnabled());
    await user.click(within(row).getByRole('button', { name: 'Edit' }));
    const dialog = screen.getByRole('dialog', { name: 'Edit workspace' });
    const budget = within(dialog).getByLabelText('Monthly budget (USD)');
    expect(budget).toHaveValue('');
    await user.type(budget, '20000000');
    await user.click(within(dialog).getByRole('button', { name: 'Save' }));
    expect(within(dialog).getByText('The budget can be at most $10,000,000 per month.')).toBeInTheDocument();
    expect(api.sent('PATCH', '/api/v1/workspaces/ws-1')).toEqual([]);
    await user.clear(budget);
    await user.type(budget, '250');
    await user.click(within(dialog).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(api.sent('PATCH', '/api/v1/workspaces/ws-1')).toHaveLength(1));
    expect(api.sent('PATCH', '/api/v1/workspaces/ws-1')[0]?.body).toMatchObject({ budget_usd_monthly: 250 });
  });

  it('orders the checked keys of one provider with Move up / Move down', async () => {
    const user = userEvent.setup();
    const api = setup();
    const row = (await screen.findByText('Marketing')).closest('tr')!;
    await waitFor(() => expect(within(row).getByRole('button', { name: 'Edit' })).toBeEnabled());
    await user.click(within(row).getByRole('button', { name: 'Edit' }));
    const dialog = screen.getByRole('dialog', { name: 'Edit workspace' });
    expect(within(dialog).getByLabelText('Name')).toHaveValue('Marketing');
    expect(within(dialog).getByLabelText('Name')).toHaveFocus();
    const group = within(dialog).getByRole('group', { name: 'AI Providers' });
    expect(within(group).getByRole('heading', { name: 'Anthropic' })).toBeInTheDocument();
    expect(within(group).getByRole('heading', { name: 'OpenAI' })).toBeInTheDocument();

    // Ends are disabled: the first key cannot go up, the last cannot go down.
    expect(within(item(dialog, 'Claude one')).getByRole('button', { name: 'Move up' })).toBeDisabled();
    expect(within(item(dialog, 'Claude one')).getByRole('button', { name: 'Move down' })).toBeEnabled();
    expect(within(item(dialog, 'Claude two')).getByRole('button', { name: 'Move down' })).toBeDisabled();
    expect(within(item(dialog, 'GPT one')).getByRole('button', { name: 'Move up' })).toBeDisabled();
    expect(within(item(dialog, 'GPT one')).getByRole('button', { name: 'Move down' })).toBeDisabled();

    await user.click(within(item(dialog, 'Claude two')).getByRole('button', { name: 'Move up' }));
    const names = within(group)
      .getAllByRole('checkbox')
      .map((c) => c.closest('li')?.textContent ?? '');
    expect(names[0]).toContain('Claude two');
    expect(within(item(dialog, 'Claude two')).getByRole('button', { name: 'Move up' })).toBeDisabled();
    expect(within(item(dialog, 'Claude one')).getByRole('button', { name: 'Move down' })).toBeDisabled();

    await user.click(within(dialog).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    expect(api.sent('PATCH', '/api/v1/workspaces/ws-1').map((c) => c.body)).toEqual([
      { name: 'Marketing', ai_provider_ids: ['a2', 'o1', 'a1'] },
    ]);
  });

  it('unchecking drops a key, checking adds it last; the keyboard alone works', async () => {
    const user = userEvent.setup();
    const api = setup();
    const row = (await screen.findByText('Marketing')).closest('tr')!;
    await waitFor(() => expect(within(row).getByRole('button', { name: 'Edit' })).toBeEnabled());
    within(row).getByRole('button', { name: 'Edit' }).focus();
    await user.keyboard('{Enter}');
    const dialog = screen.getByRole('dialog', { name: 'Edit workspace' });
    within(dialog).getByRole('checkbox', { name: 'Claude one' }).focus();
    await user.keyboard(' ');
    expect(within(dialog).getByRole('checkbox', { name: 'Claude one' })).not.toBeChecked();
    within(dialog).getByRole('checkbox', { name: 'Claude one' }).focus();
    await user.keyboard(' ');
    within(dialog).getByRole('button', { name: 'Save' }).focus();
    await user.keyboard('{Enter}');
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    expect(api.sent('PATCH', '/api/v1/workspaces/ws-1').map((c) => c.body)).toEqual([
      { name: 'Marketing', ai_provider_ids: ['o1', 'a2', 'a1'] },
    ]);
  });
});

describe('ordering helpers', () => {
  const keys = KEYS.map(({ id, provider }) => ({ id, provider }));
  it('moves within a provider and leaves other providers in place', () => {
    expect(move(['a1', 'o1', 'a2'], keys, 'a2', -1)).toEqual(['a2', 'o1', 'a1']);
    expect(move(['a1', 'o1', 'a2'], keys, 'a1', 1)).toEqual(['a2', 'o1', 'a1']);
    expect(move(['a1', 'o1', 'a2'], keys, 'a1', -1)).toEqual(['a1', 'o1', 'a2']);
    expect(move(['a1', 'o1', 'a2'], keys, 'o1', 1)).toEqual(['a1', 'o1', 'a2']);
  });
  it('toggles keys on (last) and off', () => {
    expect(toggle(['a1'], 'a2', true)).toEqual(['a1', 'a2']);
    expect(toggle(['a1', 'a2'], 'a1', false)).toEqual(['a2']);
  });
});
