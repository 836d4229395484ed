import { screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { stubFetch } from '../../test/fetch-stub';
import { renderWithProviders } from '../../test/render';
import { AlertBanner, activeAlerts } from './AlertBanner';

const month = new Date().toISOString().slice(0, 7);
const budget = (pct: 50 | 80 | 100, scope_id: string, m = month) => ({
  alert_id: `budget:key:${scope_id}:${m}:${pct}`,
  kind: 'budget' as const,
  scope: 'key' as const,
  scope_id,
  threshold_pct: pct,
  month: m,
  budget_usd: 100,
  spent_usd: pct,
  expires_at: null,
  message: `Provider key '${scope_id}' has spent $${pct}.00 of its $100.00 monthly budget (${pct} %).`,
  at: '2026-11-30T10:00:00Z',
});

describe('Alert banner on Plan & Usage', () => {
  it('shows the highest threshold of each budget this month and keys about to expire', async () => {
    const soon = new Date(Date.now() + 3 * 86_400_000).toISOString();
    stubFetch({
      'GET /api/v1/alerts': {
        items: [
          budget(80, 'Prod'),
          budget(50, 'Prod'),
          budget(100, 'Old', '2001-01'),
          {
            ...budget(50, 'Dev'),
            alert_id: 'key_expiry:key:Dev',
            kind: 'key_expiry',
            threshold_pct: null,
            month: null,
            expires_at: soon,
            message: "Provider key 'Dev' expires in 3 days.",
          },
        ],
        next_cursor: null,
      },
    });
    renderWithProviders(<AlertBanner />);
    const banner = await screen.findByRole('region', { name: 'Budget and key alerts' });
    expect(banner).toHaveTextContent('(80 %)');
    expect(banner).not.toHaveTextContent('(50 %)');
    expect(banner).not.toHaveTextContent("'Old'");
    expect(banner).toHaveTextContent("Provider key 'Dev' expires in 3 days.");
  });

  it('shows nothing without alerts', async () => {
    const api = stubFetch({ 'GET /api/v1/alerts': { items: [], next_cursor: null } });
    renderWithProviders(<AlertBanner />);
    await screen.findByText((_, el) => el === document.body);
    expect(activeAlerts([])).toEqual([]);
    expect(screen.queryByRole('region', { name: 'Budget and key alerts' })).not.toBeInTheDocument();
    expect(api.sent('GET', '/api/v1/alerts')).toHaveLength(1);
  });
});
