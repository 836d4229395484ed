import { useId, useState } from 'react';
import { ACTIONS_COLUMN, DataTable, QueryStatus } from '../../components/DataTable';
import { Section } from '../../components/Section';
import type { ProviderKey, Workspace } from '../../lib/api';
import { displayPreview, formatUsd, lastUsed, providerName } from '../../lib/format';
import { useCatalog, useProviderKeys, useWorkspaces } from '../../lib/queries';
import { AddProviderDialog } from './AddProviderDialog';
import { useCostThisMonth } from './api';
import { DeleteDialog, RenameDialog, ReplaceKeyDialog } from './KeyDialogs';
import { LimitsDialog } from './LimitsDialog';
import { budgetText, expiresIn } from '../../lib/budgets';

type Open =
  | { kind: 'add' }
  | { kind: 'rename' | 'replace' | 'limits' | 'delete'; key: ProviderKey }
  | null;

function workspacesUsing(keyId: string, workspaces: Workspace[] | undefined): string[] {
  return (workspaces ?? []).filter((w) => w.ai_provider_ids.includes(keyId)).map((w) => w.name);
}

export function AiProvidersTab() {
  const keys = useProviderKeys();
  const workspaces = useWorkspaces();
  const cost = useCostThisMonth();
  const [open, setOpen] = useState<Open>(null);
  const headingId = useId();
  const close = () => setOpen(null);

  return (
    <>
      <Section title="Provider keys" headingId={headingId} action={{ label: 'Add Provider', onClick: () => setOpen({ kind: 'add' }) }}>
        <QueryStatus errors={[keys.error, workspaces.error, cost.error]} pending={keys.isPending} what="provider keys" />
        {keys.data && (
          <DataTable
            caption="Provider keys"
            columns={['Name', 'Provider', 'Key', 'Workspaces', 'Last used', 'Cost this month', 'Budget', 'Expires', ACTIONS_COLUMN]}
            empty={keys.data.length === 0 ? 'No provider keys yet. Use “Add Provider” to store one.' : undefined}
          >
                {keys.data.map((key) => {
                  const used = workspacesUsing(key.id, workspaces.data);
                  const nameId = `${headingId}-${key.id}`;
                  return (
                    <tr key={key.id}>
                      <td id={nameId}>{key.name}</td>
                      <td>{providerName(key.provider)}</td>
                      <td>
                        <code>{displayPreview(key.preview)}</code>
                      </td>
                      <td>{used.length > 0 ? used.join(', ') : '—'}</td>
                      <td>{lastUsed(key.last_used_at)}</td>
                      <td className="num">{formatUsd(cost.data?.get(key.id) ?? 0)}</td>
                      <td>{budgetText(key.spent_usd_month, key.budget_usd_monthly)}</td>
                      <td>{expiresIn(key.expires_at)}</td>
                      <td>
                        <div className="row-actions">
                          <button type="button" aria-describedby={nameId} onClick={() => setOpen({ kind: 'rename', key })}>
                            Rename
                          </button>
                          <button type="button" aria-describedby={nameId} onClick={() => setOpen({ kind: 'replace', key })}>
                            Replace key
                          </button>
                          <button type="button" aria-describedby={nameId} onClick={() => setOpen({ kind: 'limits', key })}>
                            Budget & expiry
                          </button>
                          <button
                            type="button"
                            className="danger"
                            aria-describedby={nameId}
                            onClick={() => setOpen({ kind: 'delete', key })}
                          >
                            Delete
                          </button>
                        </div>
                      </td>
                    </tr>
                  );
                })}
          </DataTable>
        )}
      </Section>
      <SupportedModels />
      {open?.kind === 'add' && <AddProviderDialog onClose={close} />}
      {open?.kind === 'rename' && <RenameDialog providerKey={open.key} onClose={close} />}
      {open?.kind === 'replace' && <ReplaceKeyDialog providerKey={open.key} onClose={close} />}
      {open?.kind === 'limits' && <LimitsDialog providerKey={open.key} onClose={close} />}
      {open?.kind === 'delete' && (
        <DeleteDialog
          providerKey={open.key}
          workspaceNames={workspacesUsing(open.key.id, workspaces.data)}
          onClose={close}
        />
      )}
    </>
  );
}

function SupportedModels() {
  const catalog = useCatalog();
  return (
    <Section title="Supported models" className="models">
      <QueryStatus errors={[catalog.error]} pending={catalog.isPending} what="models" />
      <div className="model-grid">
        {catalog.data?.map((provider) => (
          <div key={provider.id} className="table-wrap">
            <table>
              <caption>{provider.name}</caption>
              <thead>
                <tr>
                  <th scope="col">Model</th>
                  <th scope="col">Best For</th>
                </tr>
              </thead>
              <tbody>
                {provider.models.map((model) => (
                  <tr key={model.id}>
                    <td>
                      <code>{model.id}</code>
                    </td>
                    <td>{model.best_for}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
      </div>
    </Section>
  );
}
