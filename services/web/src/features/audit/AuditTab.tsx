import { useState } from 'react';
import { DataTable, QueryStatus } from '../../components/DataTable';
import { FilterSelect } from '../../components/FilterSelect';
import { Section } from '../../components/Section';
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

  const keyName = (id: string | null | undefined) =>
    id ? (keys.data?.find((k) => k.id === id)?.name ?? id) : '—';
  const workspaceName = (id: string | null | undefined) =>
    id ? (workspaces.data?.find((w) => w.id === id)?.name ?? id) : '—';

  const next = page.isPlaceholderData ? null : (page.data?.next_cursor ?? null);
  const items = page.data?.items ?? [];

  return (
    <Section title="Audit log">
      <div className="filters">
        <FilterSelect
          label="Key"
          value={keyId}
          options={[{ id: '', label: 'All keys' }, ...(keys.data ?? []).map((k) => ({ id: k.id, label: k.name }))]}
          onChange={(id) => {
            setKeyId(id);
            setCursors([null]);
          }}
        />
      </div>
      <QueryStatus errors={[page.error, keys.error]} pending={page.isPending} what="audit log" />
      {page.data && (
        <DataTable
          caption="Audit log"
          busy={page.isPlaceholderData}
          columns={['Time', 'Action', 'Key', 'Workspace', 'Execution', 'Actor']}
          empty={items.length === 0 ? 'No audit entries.' : undefined}
        >
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
        </DataTable>
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
    </Section>
  );
}
