import { useId, useState, type FormEvent } from 'react';
import { Dialog } from '../../components/Dialog';
import { ErrorAlert } from '../../components/ErrorAlert';
import type { ProviderKey, Workspace } from '../../lib/api';
import { PROVIDERS } from '../../lib/format';
import { useCreateWorkspace, useUpdateWorkspace } from './api';
import { checkedOf, knownIds, move, toggle } from './ordering';

const NAME_MESSAGE = 'Name must be 1–64 characters.';

function nameProblem(name: string): string | null {
  const length = Array.from(name.trim()).length;
  return length < 1 || length > 64 ? NAME_MESSAGE : null;
}

function NameField({ value, onChange, problem }: { value: string; onChange: (v: string) => void; problem: string | null }) {
  const id = useId();
  const errId = useId();
  return (
    <>
      <label htmlFor={id}>Name</label>
      <input
        id={id}
        type="text"
        value={value}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={problem ? true : undefined}
        aria-describedby={problem ? errId : undefined}
      />
      {problem && (
        <p id={errId} role="alert" className="field-error">
          {problem}
        </p>
      )}
    </>
  );
}

export function NewWorkspaceDialog({ onClose }: { onClose: () => void }) {
  const [name, setName] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const create = useCreateWorkspace();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const found = nameProblem(name);
    setProblem(found);
    create.reset();
    if (!found) create.mutate(name.trim(), { onSuccess: onClose });
  };
  return (
    <Dialog title="New workspace" onClose={onClose}>
      <form onSubmit={submit} className="stack" noValidate>
        <NameField value={name} onChange={setName} problem={problem} />
        <ErrorAlert error={create.error} />
        <div className="actions">
          <button type="submit" className="primary" disabled={create.isPending}>
            Save
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function EditWorkspaceDialog({
  workspace,
  keys,
  onClose,
}: {
  workspace: Workspace;
  keys: ProviderKey[];
  onClose: () => void;
}) {
  const [name, setName] = useState(workspace.name);
  const [order, setOrder] = useState(() => knownIds(workspace.ai_provider_ids, keys));
  const [problem, setProblem] = useState<string | null>(null);
  const update = useUpdateWorkspace();
  const legendId = useId();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const found = nameProblem(name);
    setProblem(found);
    update.reset();
    if (found) return;
    update.mutate(
      { id: workspace.id, name: name.trim(), ai_provider_ids: knownIds(order, keys) },
      { onSuccess: onClose },
    );
  };

  return (
    <Dialog title="Edit workspace" onClose={onClose}>
      <form onSubmit={submit} className="stack" noValidate>
        <NameField value={name} onChange={setName} problem={problem} />
        <fieldset className="providers" aria-describedby={legendId}>
          <legend>AI Providers</legend>
          <p id={legendId} className="muted small">
            Checked keys of one provider are tried in the order shown.
          </p>
          {keys.length === 0 && <p>This organization has no provider keys yet.</p>}
          {PROVIDERS.map((provider) => {
            const ofProvider = keys.filter((k) => k.provider === provider.id);
            if (ofProvider.length === 0) return null;
            const checked = checkedOf(order, keys, provider.id);
            const byId = new Map(ofProvider.map((k) => [k.id, k]));
            const unchecked = ofProvider
              .filter((k) => !checked.includes(k.id))
              .sort((a, b) => a.name.localeCompare(b.name));
            const shown = [...checked.map((id) => byId.get(id)!), ...unchecked];
            return (
              <div key={provider.id} className="provider-group">
                <h3>{provider.name}</h3>
                <ul className="key-list">
                  {shown.map((key) => {
                    const position = checked.indexOf(key.id);
                    return (
                      <KeyChoice
                        key={key.id}
                        providerKey={key}
                        position={position}
                        last={position === checked.length - 1}
                        onToggle={(on) => setOrder((o) => toggle(o, key.id, on))}
                        onMove={(direction) => setOrder((o) => move(o, keys, key.id, direction))}
                      />
                    );
                  })}
                </ul>
              </div>
            );
          })}
        </fieldset>
        <ErrorAlert error={update.error} />
        <div className="actions">
          <button type="submit" className="primary" disabled={update.isPending}>
            Save
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function KeyChoice({
  providerKey,
  position,
  last,
  onToggle,
  onMove,
}: {
  providerKey: ProviderKey;
  /** Place among the checked keys of its provider; -1 when unchecked. */
  position: number;
  last: boolean;
  onToggle: (on: boolean) => void;
  onMove: (direction: -1 | 1) => void;
}) {
  const id = useId();
  const labelId = useId();
  const checked = position >= 0;
  return (
    <li className="key-choice">
      <span className="check">
        <input id={id} type="checkbox" checked={checked} onChange={(e) => onToggle(e.target.checked)} />
        <label id={labelId} htmlFor={id}>
          {providerKey.name}
        </label>
      </span>
      {checked && (
        <span className="order-buttons">
          <span className="muted small">#{position + 1}</span>
          <button type="button" aria-describedby={labelId} disabled={position === 0} onClick={() => onMove(-1)}>
            Move up
          </button>
          <button type="button" aria-describedby={labelId} disabled={last} onClick={() => onMove(1)}>
            Move down
          </button>
        </span>
      )}
    </li>
  );
}
