import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { problem, stubFetch, type Routes } from '../../test/fetch-stub';
import { renderWithProviders } from '../../test/render';
import { IDEMPOTENCY_HINT, NO_MODEL, RATE_LIMITED_HINT, WorkspaceDetailPage } from './WorkspaceDetailPage';

const WS = { id: 'ws-1', name: 'Runs', ai_provider_ids: ['k1'], created_at: '2026-11-30T10:00:00Z' };
const MODELS = [
  { id: 'claude-haiku-4-5', provider: 'anthropic', best_for: 'Fast' },
  { id: 'gpt-5-mini', provider: 'openai', best_for: 'Cheap' },
];
const base = {
  workspace_id: 'ws-1',
  provider: 'anthropic',
  key_id: 'k1',
  key_name: 'Claude for runs',
  requested_at: '2026-11-30T10:00:00Z',
  finished_at: '2026-11-30T10:00:01Z',
};
const SUCCEEDED = {
  ...base,
  execution_id: 'ex-1',
  status: 'succeeded',
  model: 'claude-haiku-4-5',
  output: { text: '[claude-haiku-4-5] Hello', finish_reason: 'end_turn' },
  usage: { input_tokens: 12, output_tokens: 5, cost_usd: 0.000123 },
  error: null,
  duration_ms: 321,
};

function page(routes: Routes) {
  const api = stubFetch({
    'GET /api/v1/workspaces/ws-1': WS,
    'GET /api/v1/workspaces/ws-1/models': { items: MODELS },
    'GET /api/v1/workspaces/ws-1/executions': { items: [], next_cursor: null },
    ...routes,
  });
  renderWithProviders(<WorkspaceDetailPage />, { route: '/workspaces/ws-1', path: '/workspaces/:workspaceId' });
  return api;
}

describe('Agent node', () => {
  it('lists the models by provider and shows a run that was queued, once finished', async () => {
    const user = userEvent.setup();
    let polls = 0;
    const api = page({
      'POST /api/v1/workspaces/ws-1/executions': () => ({ status: 202, body: { execution_id: 'ex-1', status: 'queued' } }),
      'GET /api/v1/executions/ex-1': () => {
        polls += 1;
        return { body: polls < 2 ? { ...SUCCEEDED, status: 'queued', output: null, usage: null } : SUCCEEDED };
      },
    });
    expect(await screen.findByRole('heading', { level: 1, name: 'Runs' })).toBeInTheDocument();
    const agent = screen.getByRole('region', { name: 'Agent node' });
    const model = await within(agent).findByLabelText('Model');
    expect(Array.from(model.querySelectorAll('optgroup')).map((g) => g.label)).toEqual(['Anthropic', 'OpenAI']);
    expect(within(model).getByRole('option', { name: 'claude-haiku-4-5 — Fast' })).toHaveValue('claude-haiku-4-5');
    await user.type(within(agent).getByLabelText('Prompt'), 'Hello');
    await user.click(within(agent).getByRole('button', { name: 'Run' }));

    const result = await screen.findByRole('region', { name: 'Result' });
    await waitFor(() => expect(result).toHaveTextContent('Key: Claude for runs'), { timeout: 3000 });
    expect(result).toHaveTextContent('succeeded');
    expect(result).toHaveTextContent('[claude-haiku-4-5] Hello');
    expect(result).toHaveTextContent('Tokens: 12 in / 5 out');
    expect(result).toHaveTextContent('Cost: $0.0001');
    expect(result).toHaveTextContent('Duration: 321 ms');
    expect(api.sent('POST', '/api/v1/workspaces/ws-1/executions').map((c) => c.body)).toEqual([
      {
        model: 'claude-haiku-4-5',
        input: { messages: [{ role: 'user', content: 'Hello' }], max_tokens: 1024 },
        wait_seconds: 30,
      },
    ]);
    const [sent] = api.sent('POST', '/api/v1/workspaces/ws-1/executions');
    expect(sent!.headers.get('Idempotency-Key')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('a run that finishes while the first load of Recent runs is still in flight is listed', async () => {
    const user = userEvent.setup();
    let releaseFirst: () => void = () => undefined;
    const firstLoad = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    let lists = 0;
    const api = page({
      'GET /api/v1/workspaces/ws-1/executions': async () => {
        lists += 1;
        if (lists === 1) {
          await firstLoad; // a slow server: its answer predates the run below
          return { body: { items: [], next_cursor: null } };
        }
        return { body: { items: [SUCCEEDED], next_cursor: null } };
      },
      'POST /api/v1/workspaces/ws-1/executions': { ...SUCCEEDED },
    });
    const agent = await screen.findByRole('region', { name: 'Agent node' });
    await within(agent).findByRole('option', { name: 'claude-haiku-4-5 — Fast' });
    await user.type(within(agent).getByLabelText('Prompt'), 'Hello');
    await user.click(within(agent).getByRole('button', { name: 'Run' }));
    await waitFor(() => expect(api.sent('POST', '/api/v1/workspaces/ws-1/executions')).toHaveLength(1));
    await new Promise((resolve) => setTimeout(resolve, 100)); // the run has settled meanwhile
    releaseFirst(); // only now does the stale first answer (no runs) arrive

    const result = await screen.findByRole('region', { name: 'Result' });
    await waitFor(() => expect(result).toHaveTextContent('succeeded'));
    const recent = screen.getByRole('region', { name: 'Recent runs' });
    const row = await within(recent).findByRole('row', { name: /Claude for runs/ }, { timeout: 3000 });
    expect(row).toHaveTextContent('succeeded');
  });

  it('each Run is its own idempotent request, capped by the workspace', async () => {
    const user = userEvent.setup();
    const api = page({
      'GET /api/v1/workspaces/ws-1': { ...WS, max_tokens_cap: 200 },
      'POST /api/v1/workspaces/ws-1/executions': SUCCEEDED,
    });
    const agent = await screen.findByRole('region', { name: 'Agent node' });
    await user.type(await within(agent).findByLabelText('Prompt'), 'Hello');
    await user.click(within(agent).getByRole('button', { name: 'Run' }));
    await screen.findByText('[claude-haiku-4-5] Hello');
    await user.click(within(agent).getByRole('button', { name: 'Run' }));
    await waitFor(() => expect(api.sent('POST', '/api/v1/workspaces/ws-1/executions')).toHaveLength(2));
    const runs = api.sent('POST', '/api/v1/workspaces/ws-1/executions');
    expect(runs.map((c) => (c.body as { input: { max_tokens: number } }).input.max_tokens)).toEqual([200, 200]);
    const keys = runs.map((c) => c.headers.get('Idempotency-Key'));
    expect(new Set(keys).size).toBe(2);
  });

  it('a rate-limited run says so and when to try again', async () => {
    const user = userEvent.setup();
    page({
      'POST /api/v1/workspaces/ws-1/executions': () =>
        problem(429, 'rate_limited', 'this organization may start 60 test runs per 60 s; try again in 12 s'),
    });
    const agent = await screen.findByRole('region', { name: 'Agent node' });
    await user.type(await within(agent).findByLabelText('Prompt'), 'Hello');
    await user.click(within(agent).getByRole('button', { name: 'Run' }));
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('try again in 12 s');
    expect(alert).toHaveTextContent(RATE_LIMITED_HINT);
  });

  it('an idempotency conflict says what happened', async () => {
    const user = userEvent.setup();
    page({
      'POST /api/v1/workspaces/ws-1/executions': () =>
        problem(409, 'idempotency_conflict', "Idempotency-Key 'k' was used with another request body"),
    });
    const agent = await screen.findByRole('region', { name: 'Agent node' });
    await user.type(await within(agent).findByLabelText('Prompt'), 'Hello');
    await user.click(within(agent).getByRole('button', { name: 'Run' }));
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('used with another request body');
    expect(alert).toHaveTextContent(IDEMPOTENCY_HINT);
  });

  it('a run without a configured provider says how to assign a key', async () => {
    const user = userEvent.setup();
    page({
      'POST /api/v1/workspaces/ws-1/executions': {
        ...SUCCEEDED,
        status: 'failed',
        key_id: null,
        key_name: null,
        output: null,
        usage: null,
        error: { code: 'provider_not_configured', message: 'No anthropic key is assigned to this workspace.', retryable: false },
      },
    });
    const agent = await screen.findByRole('region', { name: 'Agent node' });
    await user.type(await within(agent).findByLabelText('Prompt'), 'Hello');
    await user.click(within(agent).getByRole('button', { name: 'Run' }));
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('No anthropic key is assigned to this workspace.');
    expect(alert).toHaveTextContent('Assign an Anthropic key to this workspace in Settings › Workspaces › Edit.');
  });

  it('without models it says so and Run is disabled', async () => {
    page({ 'GET /api/v1/workspaces/ws-1/models': { items: [] } });
    const agent = await screen.findByRole('region', { name: 'Agent node' });
    expect(await within(agent).findByText(NO_MODEL)).toBeInTheDocument();
    expect(within(agent).queryByLabelText('Model')).not.toBeInTheDocument();
    expect(within(agent).getByRole('button', { name: 'Run' })).toBeDisabled();
  });
});
