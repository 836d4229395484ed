import { useId, useState } from 'react';
import { ErrorAlert, Loading } from '../../components/ErrorAlert';
import type { Workspace } from '../../lib/api';
import { formatDateTime } from '../../lib/format';
import { useProviderKeys, useWorkspaces } from '../../lib/queries';
import { EditWorkspaceDialog, NewWorkspaceDialog } from './WorkspaceDialogs';

export function WorkspacesTab() {
  const workspaces = useWorkspaces();
  const keys = useProviderKeys();
  const [editing, setEditing] = useState<Workspace | null>(null);
  const [creating, setCreating] = useState(false);
  const headingId = useId();
  const names = new Map((keys.data ?? []).map((k) => [k.id, k.name]));

  return (
    <section aria-labelledby={headingId}>
      <div className="section-head">
        <h2 id={headingId}>Workspaces</h2>
        <button type="button" className="primary" onClick={() => setCreating(true)}>
          New workspace
        </button>
      </div>
      <ErrorAlert error={workspaces.error} />
      <ErrorAlert error={keys.error} />
      {workspaces.isPending && <Loading what="workspaces" />}
      {workspaces.data && (
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">Workspaces</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">AI Providers</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {workspaces.data.length === 0 && (
                <tr>
                  <td colSpan={4} className="muted">
                    No workspaces yet.
                  </td>
                </tr>
              )}
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
            </tbody>
          </table>
        </div>
      )}
      {creating && <NewWorkspaceDialog onClose={() => setCreating(false)} />}
      {editing && keys.data && (
        <EditWorkspaceDialog workspace={editing} keys={keys.data} onClose={() => setEditing(null)} />
      )}
    </section>
  );
}
