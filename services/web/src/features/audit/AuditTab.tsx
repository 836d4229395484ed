import { useId, useState } from 'react';
import { ErrorAlert, Loading } from '../../components/ErrorAlert';
import { formatDateTime } from '../../lib/format';
import { useProviderKeys, useWorkspaces } from '../../lib/queries';
import { useAuditPage } from './api';

/** Every decryption and key change, newest first; paged with a stack of cursors. */
export function AuditTab() {
  const [keyId, setKeyId] = useState('');
  // cursors[i] is the cursor of page i + 1 (null: the first page).
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1] ?? null;
  const page = useAuditPage(keyId, cursor);
  const keys = useProviderKeys();
  const workspaces = useWorkspaces();
  const ids = { heading: useId(), key: useId() };

  const keyName = (id: string | null | undefined) =>
    id ? (keys.data?.find((k) => k.id === id)?.name ?? id) : '—';
  const workspaceName = (id: string | null | undefined) =>
    id ? (workspaces.data?.find((w) => w.id === id)?.name ?? id) : '—';

  const next = page.isPlaceholderData ? null : (page.data?.next_cursor ?? null);
  const items = page.data?.items ?? [];

  return (
    <section aria-labelledby={ids.heading}>
      <h2 id={ids.heading}>Audit log</h2>
      <div className="filters">
        <span>
          <label htmlFor={ids.key}>Key</label>
          <select
            id={ids.key}
            value={keyId}
            onChange={(e) => {
              setKeyId(e.target.value);
              setCursors([null]);
            }}
          >
            <option value="">All keys</option>
            {keys.data?.map((k) => (
              <option key={k.id} value={k.id}>
                {k.name}
              </option>
            ))}
          </select>
        </span>
      </div>
      <ErrorAlert error={page.error} />
      <ErrorAlert error={keys.error} />
      {page.isPending && <Loading what="audit log" />}
      {page.data && (
        <div className="table-wrap">
          <table aria-busy={page.isPlaceholderData}>
            <caption className="visually-hidden">Audit log</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Action</th>
                <th scope="col">Key</th>
                <th scope="col">Workspace</th>
                <th scope="col">Execution</th>
                <th scope="col">Actor</th>
              </tr>
            </thead>
            <tbody>
              {items.length === 0 && (
                <tr>
                  <td colSpan={6} className="muted">
                    No audit entries.
                  </td>
                </tr>
              )}
              {items.map((entry, index) => (
                <tr key={`${entry.at}-${entry.action}-${entry.execution_id ?? ''}-${index}`}>
                  <td>{formatDateTime(entry.at)}</td>
                  <td>{entry.action}</td>
                  <td>{keyName(entry.key_id)}</td>
                  <td>{workspaceName(entry.workspace_id)}</td>
                  <td>
                    {entry.execution_id ? <code>{entry.execution_id}</code> : '—'}
                  </td>
                  <td>{entry.actor ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="pager">
        <button
          type="button"
          disabled={cursors.length <= 1}
          onClick={() => setCursors((c) => (c.length > 1 ? c.slice(0, -1) : c))}
        >
          Previous page
        </button>
        <span aria-live="polite">{`Page ${cursors.length}`}</span>
        <button type="button" disabled={!next} onClick={() => next && setCursors((c) => [...c, next])}>
          Next page
        </button>
      </div>
    </section>
  );
}
