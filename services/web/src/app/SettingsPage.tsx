import { useId, type ReactNode } from 'react';
import { Link } from 'react-router-dom';
import { AiProvidersTab } from '../features/ai-providers/AiProvidersTab';
import { AuditTab } from '../features/audit/AuditTab';
import { PlanUsageTab } from '../features/plan-usage/PlanUsageTab';
import { WorkspacesTab } from '../features/workspaces/WorkspacesTab';
import type { Me } from '../lib/api';

export type SettingsTab = 'ai-providers' | 'workspaces' | 'plan' | 'audit';

const TABS: { id: SettingsTab; label: string }[] = [
  { id: 'ai-providers', label: 'AI Providers' },
  { id: 'workspaces', label: 'Workspaces' },
  { id: 'plan', label: 'Plan & Usage' },
  { id: 'audit', label: 'Audit log' },
];

const PANELS: Record<SettingsTab, () => ReactNode> = {
  'ai-providers': () => <AiProvidersTab />,
  workspaces: () => <WorkspacesTab />,
  plan: () => <PlanUsageTab />,
  audit: () => <AuditTab />,
};

export function SettingsPage({ me, tab }: { me: Me; tab: SettingsTab }) {
  const base = useId();
  if (me.role !== 'OWNER') {
    return (
      <>
        <h1>Settings</h1>
        <p className="alert alert-info">Requires OWNER role</p>
      </>
    );
  }
  return (
    <>
      <h1>Settings</h1>
      <div role="tablist" aria-label="Settings" className="tabs">
        {TABS.map((t) => (
          <Link
            key={t.id}
            id={`${base}-${t.id}`}
            role="tab"
            to={`/settings/${t.id}`}
            aria-selected={t.id === tab}
            aria-controls={`${base}-panel`}
            className={t.id === tab ? 'tab tab-selected' : 'tab'}
          >
            {t.label}
          </Link>
        ))}
      </div>
      <div role="tabpanel" id={`${base}-panel`} aria-labelledby={`${base}-${tab}`} className="panel">
        {PANELS[tab]()}
      </div>
    </>
  );
}
