import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { problem, stubFetch } from '../../test/fetch-stub';
import { renderWithProviders } from '../../test/render';
import { move, toggle } from './ordering';
import { routingBody } from './routing';
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
      {
        name: 'Marketing',
        ai_provider_ids: ['a2', 'o1', 'a1'],
        routing: { anthropic: { strategy: 'ordered' }, openai: { strategy: 'ordered' } },
        max_tokens_cap: null,
      },
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
      {
        name: 'Marketing',
        ai_provider_ids: ['o1', 'a2', 'a1'],
        routing: { anthropic: { strategy: 'ordered' }, openai: { strategy: 'ordered' } },
        max_tokens_cap: null,
      },
    ]);
  });
});

async function openEdit(user: ReturnType<typeof userEvent.setup>) {
  const row = (await screen.findByText('Marketing')).closest('tr')!;
  await waitFor(() => expect(within(row).getByRole('button', { name: 'Edit' })).toBeEnabled());
  await user.click(within(row).getByRole('button', { name: 'Edit' }));
  return screen.getByRole('dialog', { name: 'Edit workspace' });
}

describe('Edit workspace: load balancing and the max_tokens cap', () => {
  it('sets round robin with weights for Anthropic and a cap', async () => {
    const user = userEvent.setup();
    const api = setup();
    const dialog = await openEdit(user);
    const choice = within(dialog).getByLabelText('Anthropic key choice');
    expect(choice).toHaveValue('ordered');
    expect(within(dialog).queryByLabelText('Weight of Claude one')).not.toBeInTheDocument();
    await user.selectOptions(choice, 'round_robin');
    await user.type(within(dialog).getByLabelText('Weight of Claude one'), '3');
    await user.type(within(dialog).getByLabelText('Max tokens per test run'), '2048');
    await user.click(within(dialog).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    expect(api.sent('PATCH', '/api/v1/workspaces/ws-1').map((c) => c.body)).toEqual([
      {
        name: 'Marketing',
        ai_provider_ids: ['a1', 'o1', 'a2'],
        routing: { anthropic: { strategy: 'round_robin', weights: { a1: 3 } }, openai: { strategy: 'ordered' } },
        max_tokens_cap: 2048,
      },
    ]);
  });

  it('shows the stored routing and refuses weights and caps out of range', async () => {
    const user = userEvent.setup();
    const api = stubFetch({
      'GET /api/v1/workspaces': {
        items: [
          {
            ...WORKSPACE,
            routing: { anthropic: { strategy: 'round_robin', weights: { a2: 5 } } },
            max_tokens_cap: 512,
          },
        ],
      },
      'GET /api/v1/ai-providers': { items: KEYS },
    });
    renderWithProviders(<WorkspacesTab />);
    const dialog = await openEdit(user);
    expect(within(dialog).getByLabelText('Anthropic key choice')).toHaveValue('round_robin');
    expect(within(dialog).getByLabelText('Weight of Claude two')).toHaveValue('5');
    expect(within(dialog).getByLabelText('Max tokens per test run')).toHaveValue('512');
    await user.clear(within(dialog).getByLabelText('Weight of Claude two'));
    await user.type(within(dialog).getByLabelText('Weight of Claude two'), '101');
    await user.clear(within(dialog).getByLabelText('Max tokens per test run'));
    await user.type(within(dialog).getByLabelText('Max tokens per test run'), '0');
    await user.click(within(dialog).getByRole('button', { name: 'Save' }));
    expect(within(dialog).getByLabelText('Weight of Claude two')).toHaveAccessibleDescription(
      'Enter a whole number from 1 to 100.',
    );
    expect(within(dialog).getByLabelText('Max tokens per test run')).toHaveAccessibleDescription(
      /from 1 to 200,000/,
    );
    expect(api.sent('PATCH', '/api/v1/workspaces/ws-1')).toEqual([]);
  });

  it('shows the API\'s refusal of a routing in an alert', async () => {
    const user = userEvent.setup();
    stubFetch({
      'GET /api/v1/workspaces': { items: [WORKSPACE] },
      'GET /api/v1/ai-providers': { items: KEYS },
      'PATCH /api/v1/workspaces/ws-1': () =>
        problem(422, 'validation_error', "routing.anthropic.weights: key 'a9' is not one of the anthropic keys assigned to this workspace"),
    });
    renderWithProviders(<WorkspacesTab />);
    const dialog = await openEdit(user);
    await user.click(within(dialog).getByRole('button', { name: 'Save' }));
    expect(await within(dialog).findByRole('alert')).toHaveTextContent("key 'a9' is not one of the anthropic keys");
  });
});

describe('routing helpers', () => {
  it('sends weights only for round robin and only for checked keys', () => {
    const form = { anthropic: { strategy: 'round_robin' as const, weights: { a1: '2', a2: '', gone: '9' } } };
    expect(routingBody(form, { anthropic: ['a1', 'a2'], openai: [], google: ['g1'] })).toEqual({
      anthropic: { strategy: 'round_robin', weights: { a1: 2 } },
      google: { strategy: 'ordered' },
    });
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
