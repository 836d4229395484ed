import { useState } from 'react';
import { ACTIONS_COLUMN, DataTable, QueryStatus } from '../../components/DataTable';
import { Section } from '../../components/Section';
import type { Workspace } from '../../lib/api';
import { formatDateTime } from '../../lib/format';
import { useProviderKeys, useWorkspaces } from '../../lib/queries';
import { EditWorkspaceDialog, NewWorkspaceDialog } from './WorkspaceDialogs';

export function WorkspacesTab() {
  const workspaces = useWorkspaces();
  const keys = useProviderKeys();
  const [editing, setEditing] = useState<Workspace | null>(null);
  const [creating, setCreating] = useState(false);
  const names = new Map((keys.data ?? []).map((k) => [k.id, k.name]));

  return (
    <Section title="Workspaces" action={{ label: 'New workspace', onClick: () => setCreating(true) }}>
      <QueryStatus errors={[workspaces.error, keys.error]} pending={workspaces.isPending} what="workspaces" />
      {workspaces.data && (
        <DataTable
          caption="Workspaces"
          columns={['Name', 'AI Providers', 'Created', ACTIONS_COLUMN]}
          empty={workspaces.data.length === 0 ? 'No workspaces yet.' : undefined}
        >
              {workspaces.data.map((w) => (
                <tr key={w.id}>
                  <td>{w.name}</td>
                  <td>
                    {w.ai_provider_ids.length > 0
                      ? w.ai_provider_ids.map((id) => names.get(id) ?? id).join(', ')
                      : '—'}
                  </td>
                  <td>{formatDateTime(w.created_at)}</td>
                  <td>
                    <div className="row-actions">
                      <button type="button" disabled={!keys.data} onClick={() => setEditing(w)}>
                        Edit
                      </button>
                    </div>
                  </td>
                </tr>
              ))}
        </DataTable>
      )}
      {creating && <NewWorkspaceDialog onClose={() => setCreating(false)} />}
      {editing && keys.data && (
        <EditWorkspaceDialog workspace={editing} keys={keys.data} onClose={() => setEditing(null)} />
      )}
    </Section>
  );
}
