import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { problem, stubFetch, type Routes } from '../../test/fetch-stub';
import { PLAN_STARTER, renderWithProviders } from '../../test/render';
import { AiProvidersTab } from './AiProvidersTab';

const SECRET = 'sk-ant-api03-test-secret-value-0000';

function routes(extra: Routes = {}): Routes {
  return {
    'GET /api/v1/ai-providers': { items: [] },
    'GET /api/v1/workspaces': { items: [] },
    'GET /api/v1/usage': { items: [] },
    'GET /api/v1/catalog': { providers: [] },
    'GET /api/v1/plan': PLAN_STARTER,
    ...extra,
  };
}

async function openDialog() {
  const user = userEvent.setup();
  renderWithProviders(<AiProvidersTab />);
  await user.click(await screen.findByRole('button', { name: 'Add Provider' }));
  const dialog = await screen.findByRole('dialog', { name: 'Add Provider' });
  return { user, dialog };
}

describe('Add Provider', () => {
  it('is a labelled modal whose first field has the focus', async () => {
    stubFetch(routes());
    const { dialog } = await openDialog();
    expect(dialog).toHaveAttribute('aria-modal', 'true');
    const provider = within(dialog).getByLabelText('Provider');
    expect(provider).toHaveFocus();
    expect(within(provider).getAllByRole('option').map((o) => o.textContent)).toEqual([
      'Anthropic',
      'OpenAI',
      'Google',
    ]);
    expect(within(dialog).getByLabelText('Name')).toHaveAttribute('placeholder', 'Production Anthropic Key');
    const key = within(dialog).getByLabelText('API key');
    expect(key).toHaveAttribute('type', 'password');
    expect(key).toHaveAttribute('autocomplete', 'off');
    expect(key).toHaveAttribute('spellcheck', 'false');
    expect(within(dialog).getByRole('checkbox', { name: 'Verify with the provider' })).not.toBeChecked();
  });

  it('validates before sending: empty name, 65 characters, a blank key', async () => {
    const api = stubFetch(routes());
    const { user, dialog } = await openDialog();
    const name = within(dialog).getByLabelText('Name');
    const key = within(dialog).getByLabelText('API key');
    const save = within(dialog).getByRole('button', { name: 'Save' });

    await user.type(key, SECRET);
    await user.click(save);
    expect(await within(dialog).findByRole('alert')).toHaveTextContent('Name must be 1–64 characters.');

    await user.type(name, 'n'.repeat(65));
    await user.click(save);
    expect(within(dialog).getByRole('alert')).toHaveTextContent('Name must be 1–64 characters.');

    await user.clear(name);
    await user.type(name, 'Fine');
    await user.clear(key);
    await user.type(key, '   ');
    await user.click(save);
    expect(within(dialog).getByRole('alert')).toHaveTextContent('Paste the API key.');
    expect(api.sent('POST', '/api/v1/ai-providers')).toEqual([]);
  });

  it('drops the secret when the dialog closes and gives the focus back', async () => {
    stubFetch(routes());
    const { user, dialog } = await openDialog();
    const opener = screen.getByRole('button', { name: 'Add Provider' });
    await user.type(within(dialog).getByLabelText('API key'), SECRET);
    await user.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
    expect(opener).toHaveFocus();
    expect(document.body.innerHTML).not.toContain(SECRET);

    await user.click(opener);
    const again = await screen.findByRole('dialog', { name: 'Add Provider' });
    expect(within(again).getByLabelText('API key')).toHaveValue('');
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
    expect(opener).toHaveFocus();
  });

  it('never writes the secret into the DOM as an attribute', async () => {
    stubFetch(routes());
    const { user, dialog } = await openDialog();
    await user.type(within(dialog).getByLabelText('API key'), SECRET);
    expect(document.documentElement.outerHTML).not.toContain(SECRET);
  });

  it('shows the server detail (409 name_taken) in an alert and stays open', async () => {
    const api = stubFetch(
      routes({
        'POST /api/v1/ai-providers': () => problem(409, 'name_taken', 'A key named “Existing” already exists.'),
      }),
    );
    const { user, dialog } = await openDialog();
    await user.type(within(dialog).getByLabelText('Name'), 'Existing');
    await user.type(within(dialog).getByLabelText('API key'), SECRET);
    await user.click(within(dialog).getByRole('button', { name: 'Save' }));
    expect(await within(dialog).findByRole('alert')).toHaveTextContent('A key named “Existing” already exists.');
    expect(screen.getByRole('dialog', { name: 'Add Provider' })).toBeInTheDocument();
    expect(api.sent('POST', '/api/v1/ai-providers')).toHaveLength(1);
  });

  it('links to Plan & Usage when the server says the plan is full', async () => {
    stubFetch(
      routes({
        'POST /api/v1/ai-providers': () =>
          problem(409, 'plan_limit_reached', 'The starter plan allows 3 provider keys.'),
      }),
    );
    const { user, dialog } = await openDialog();
    await user.type(within(dialog).getByLabelText('Name'), 'Fourth');
    await user.type(within(dialog).getByLabelText('API key'), SECRET);
    await user.click(within(dialog).getByRole('button', { name: 'Save' }));
    const alert = await within(dialog).findByRole('alert');
    expect(alert).toHaveTextContent('The starter plan allows 3 provider keys.');
    expect(within(alert).getByRole('link', { name: 'Plan & Usage' })).toHaveAttribute('href', '/settings/plan');
  });

  it('says so at open when the plan has no room, and Save is disabled', async () => {
    const api = stubFetch(
      routes({
        'GET /api/v1/plan': { ...PLAN_STARTER, usage: { ...PLAN_STARTER.usage, provider_keys: 3 } },
      }),
    );
    const { user, dialog } = await openDialog();
    const alert = await within(dialog).findByRole('alert');
    expect(alert).toHaveTextContent('Plan limit reached: the starter plan allows 3 provider keys.');
    expect(within(alert).getByRole('link', { name: 'Plan & Usage' })).toHaveAttribute('href', '/settings/plan');
    expect(within(dialog).getByRole('button', { name: 'Save' })).toBeDisabled();
    expect(within(dialog).getByLabelText('Provider')).toHaveFocus();
    await user.click(within(alert).getByRole('link', { name: 'Plan & Usage' }));
    expect(screen.getByTestId('location')).toHaveTextContent('/settings/plan');
    expect(api.sent('POST', '/api/v1/ai-providers')).toEqual([]);
  });

  it('saves, closes and refreshes the list', async () => {
    let items: unknown[] = [];
    const api = stubFetch(
      routes({
        'GET /api/v1/ai-providers': () => ({ body: { items } }),
        'POST /api/v1/ai-providers': () => {
          const created = {
            id: 'key-1',
            provider: 'openai',
            name: 'Team OpenAI',
            preview: 'sk-…0000',
            created_at: '2026-11-30T10:00:00Z',
            created_by: 'user-owner',
            last_used_at: null,
          };
          items = [created];
          return { status: 201, body: created };
        },
      }),
    );
    const { user, dialog } = await openDialog();
    await user.selectOptions(within(dialog).getByLabelText('Provider'), 'openai');
    await user.type(within(dialog).getByLabelText('Name'), 'Team OpenAI');
    await user.type(within(dialog).getByLabelText('API key'), SECRET);
    await user.click(within(dialog).getByRole('checkbox', { name: 'Verify with the provider' }));
    await user.click(within(dialog).getByRole('button', { name: 'Save' }));

    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    expect(api.sent('POST', '/api/v1/ai-providers').map((c) => c.body)).toEqual([
      { provider: 'openai', name: 'Team OpenAI', api_key: SECRET, verify: true },
    ]);
    const table = screen.getByRole('table', { name: 'Provider keys' });
    const row = (await within(table).findByText('Team OpenAI')).closest('tr')!;
    expect(row).toHaveTextContent('sk-…0000');
    expect(row).toHaveTextContent('OpenAI');
    expect(row).toHaveTextContent('Never');
    expect(row).toHaveTextContent('—');
    expect(row).toHaveTextContent('$0.00');
    expect(document.documentElement.outerHTML).not.toContain(SECRET);
    expect(api.calls.every((c) => !c.url.includes(SECRET))).toBe(true);
  });
});
