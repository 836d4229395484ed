import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { stubFetch } from '../../test/fetch-stub';
import { renderWithProviders } from '../../test/render';
import { AuditTab } from './AuditTab';

const entry = (n: number, key_id = 'k1') => ({
  at: `2026-11-30T10:00:${String(n).padStart(2, '0')}Z`,
  key_id,
  workspace_id: 'ws-1',
  execution_id: `ex-${n}`,
  actor: 'runner',
  action: 'resolved',
});

describe('Audit log', () => {
  it('pages forward and back with a stack of cursors and filters by key', async () => {
    const user = userEvent.setup();
    const api = stubFetch({
      'GET /api/v1/ai-providers': {
        items: [
          { id: 'k1', provider: 'anthropic', name: 'Audited', preview: 'sk-ant-…0000', created_at: '2026-11-30T10:00:00Z', created_by: 'o', last_used_at: null },
          { id: 'k2', provider: 'openai', name: 'Quiet', preview: 'sk-…0000', created_at: '2026-11-30T10:00:00Z', created_by: 'o', last_used_at: null },
        ],
      },
      'GET /api/v1/workspaces': { items: [{ id: 'ws-1', name: 'Audit', ai_provider_ids: ['k1'], created_at: '2026-11-30T10:00:00Z' }] },
      'GET /api/v1/audit': (call) => {
        const query = new URL(call.url).searchParams;
        if (query.get('key_id') === 'k2') return { body: { items: [{ ...entry(1, 'k2'), action: 'created', execution_id: null }], next_cursor: null } };
        if (query.get('cursor') === 'page2') return { body: { items: [entry(3)], next_cursor: null } };
        return { body: { items: [entry(5), entry(4)], next_cursor: 'page2' } };
      },
    });
    renderWithProviders(<AuditTab />);
    const table = await screen.findByRole('table', { name: 'Audit log' });
    const rows = () => within(table).getAllByRole('row').slice(1);
    await waitFor(() => expect(rows()[0]).toHaveTextContent('Audited'));
    expect(rows()).toHaveLength(2);
    expect(rows()[0]).toHaveTextContent('resolved');
    expect(rows()[0]).toHaveTextContent('Audit');
    expect(screen.getByText('Page 1')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Previous page' })).toBeDisabled();

    await user.click(screen.getByRole('button', { name: 'Next page' }));
    expect(await screen.findByText('Page 2')).toBeInTheDocument();
    await waitFor(() => expect(rows()).toHaveLength(1));
    expect(screen.getByRole('button', { name: 'Next page' })).toBeDisabled();

    await user.click(screen.getByRole('button', { name: 'Previous page' }));
    expect(await screen.findByText('Page 1')).toBeInTheDocument();
    await waitFor(() => expect(rows()).toHaveLength(2));

    await user.selectOptions(screen.getByLabelText('Key'), 'Quiet');
    await waitFor(() => expect(rows()).toHaveLength(1));
    expect(rows()[0]).toHaveTextContent('Quiet');
    expect(rows()[0]).toHaveTextContent('created');
    const urls = api.sent('GET', '/api/v1/audit').map((c) => new URL(c.url).search);
    expect(urls).toContain('?limit=100&cursor=page2');
    expect(urls).toContain('?limit=100&key_id=k2');
  });
});
