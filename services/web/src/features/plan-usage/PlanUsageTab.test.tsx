import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { stubFetch } from '../../test/fetch-stub';
import { renderWithProviders } from '../../test/render';
import { PlanUsageTab } from './PlanUsageTab';

const today = new Date().toISOString().slice(0, 10);

function setup(usage: unknown[], daily: unknown[]) {
  return stubFetch({
    'GET /api/v1/plan': {
      plan: 'starter',
      limits: { provider_keys: 3, workspaces: null },
      usage: { provider_keys: 2, workspaces: 5, executions_this_month: 3, cost_usd_this_month: 0.0042 },
    },
    'GET /api/v1/ai-providers': {
      items: [{ id: 'k1', provider: 'anthropic', name: 'Usage Claude', preview: 'sk-ant-…0000', created_at: '2026-11-30T10:00:00Z', created_by: 'o', last_used_at: null }],
    },
    'GET /api/v1/workspaces': { items: [] },
    'GET /api/v1/alerts': { items: [], next_cursor: null },
    'GET /api/v1/usage': (call) => ({
      body: { items: new URL(call.url).searchParams.get('interval') === 'day' ? daily : usage },
    }),
  });
}

describe('Plan & Usage', () => {
  it('shows the plan, its limits as progress bars, the chart and the table', async () => {
    const user = userEvent.setup();
    const api = setup(
      [{ key_id: 'k1', executions: 3, input_tokens: 30, output_tokens: 12, cost_usd: 0.0042 }],
      [{ key_id: 'k1', day: today, executions: 3, input_tokens: 30, output_tokens: 12, cost_usd: 0.0042 }],
    );
    renderWithProviders(<PlanUsageTab />);
    expect(await screen.findByRole('heading', { name: 'Plan: starter' })).toBeInTheDocument();
    const keys = screen.getByRole('progressbar', { name: 'Provider keys: 2 of 3' });
    expect(keys).toHaveAttribute('aria-valuenow', '2');
    expect(keys).toHaveAttribute('aria-valuemax', '3');
    expect(screen.getByRole('progressbar', { name: 'Workspaces: 5 (unlimited)' })).not.toHaveAttribute('aria-valuemax');
    expect(screen.getByText('Executions this month: 3')).toBeInTheDocument();
    expect(screen.getByText('Cost this month: $0.0042')).toBeInTheDocument();

    const chart = await screen.findByRole('img', { name: 'Cost per day' });
    expect(chart.tagName.toLowerCase()).toBe('svg');
    expect(chart.querySelectorAll('polyline')).toHaveLength(1);
    expect(screen.getByRole('list', { name: 'Legend' })).toHaveTextContent('Usage Claude');
    const table = screen.getByRole('table', { name: 'Usage' });
    expect(within(table).getAllByRole('row')[1]).toHaveTextContent('Usage Claude');

    await user.selectOptions(screen.getByLabelText('Group by'), 'Model');
    await user.selectOptions(screen.getByLabelText('Period'), 'Last 7 days');
    const groups = api.sent('GET', '/api/v1/usage').map((c) => new URL(c.url).searchParams.get('group_by'));
    expect(groups).toContain('model');
  });

  it('says when there is no usage', async () => {
    setup([], []);
    renderWithProviders(<PlanUsageTab />);
    expect(await screen.findByText('No usage in this period.')).toBeInTheDocument();
    expect(screen.queryByRole('img', { name: 'Cost per day' })).not.toBeInTheDocument();
  });
});
