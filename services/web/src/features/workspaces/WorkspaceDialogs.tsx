import { useId, useState } from 'react';
import { FormDialog } from '../../components/FormDialog';
import { TextField } from '../../components/TextField';
import type { ProviderKey, Workspace } from '../../lib/api';
import { budgetField, budgetProblem, parseBudget } from '../../lib/budgets';
import { PROVIDERS } from '../../lib/format';
import { nameProblem } from '../../lib/validation';
import { useCreateWorkspace, useUpdateWorkspace } from './api';
import { checkedOf, knownIds, move, toggle } from './ordering';
import {
  capProblem,
  capValue,
  routingBody,
  routingForm,
  weightProblem,
  type ProviderChoice,
  type RoutingForm,
  type Strategy,
} from './routing';

export function NewWorkspaceDialog({ onClose }: { onClose: () => void }) {
  const [name, setName] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const create = useCreateWorkspace();
  const submit = () => {
    const found = nameProblem(name);
    setProblem(found);
    create.reset();
    if (!found) create.mutate(name.trim(), { onSuccess: onClose });
  };
  return (
    <FormDialog title="New workspace" onClose={onClose} onSubmit={submit} error={create.error} saveDisabled={create.isPending}>
      <TextField label="Name" value={name} onChange={setName} problem={problem} />
    </FormDialog>
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
  const [budget, setBudget] = useState(budgetField(workspace.budget_usd_monthly));
  const [budgetIssue, setBudgetIssue] = useState<string | null>(null);
  const [routing, setRouting] = useState<RoutingForm>(() => routingForm(workspace.routing));
  const [cap, setCap] = useState(workspace.max_tokens_cap ? String(workspace.max_tokens_cap) : '');
  const [checkedProblems, setCheckedProblems] = useState(false);
  const update = useUpdateWorkspace();
  const legendId = useId();

  const checkedByProvider = Object.fromEntries(PROVIDERS.map((p) => [p.id, checkedOf(order, keys, p.id)]));
  const weightsWrong = PROVIDERS.some(
    (p) =>
      routing[p.id]?.strategy === 'round_robin' &&
      (checkedByProvider[p.id] ?? []).some((id) => weightProblem(routing[p.id]?.weights[id] ?? '') !== null),
  );
  const choose = (provider: string, change: Partial<ProviderChoice>) =>
    setRouting((r) => ({ ...r, [provider]: { strategy: 'ordered', weights: {}, ...r[provider], ...change } }));

  const submit = () => {
    const found = nameProblem(name);
    const badBudget = budgetProblem(budget);
    setProblem(found);
    setBudgetIssue(badBudget);
    setCheckedProblems(true);
    update.reset();
    if (found || badBudget || weightsWrong || capProblem(cap)) return;
    const newBudget = parseBudget(budget);
    update.mutate(
      {
        id: workspace.id,
        name: name.trim(),
        ai_provider_ids: knownIds(order, keys),
        // Sent only when changed: null clears a budget, an absent field leaves it.
        ...(newBudget !== (workspace.budget_usd_monthly ?? null) ? { budget_usd_monthly: newBudget } : {}),
        routing: routingBody(routing, checkedByProvider),
        max_tokens_cap: capValue(cap),
      },
      { onSuccess: onClose },
    );
  };

  return (
    <FormDialog title="Edit workspace" onClose={onClose} onSubmit={submit} error={update.error} saveDisabled={update.isPending}>
      <TextField label="Name" value={name} onChange={setName} problem={problem} />
      <TextField
        label="Monthly budget (USD)"
        value={budget}
        onChange={setBudget}
        problem={budgetIssue}
        placeholder="No budget"
        inputMode="decimal"
      />
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
              {checked.length > 0 && (
                <KeyChoiceStrategy
                  providerName={provider.name}
                  choice={routing[provider.id] ?? { strategy: 'ordered', weights: {} }}
                  checkedKeys={checked.map((id) => byId.get(id)!)}
                  showProblems={checkedProblems}
                  onChange={(change) => choose(provider.id, change)}
                />
              )}
            </div>
          );
        })}
      </fieldset>
      <TextField
        label="Max tokens per test run"
        value={cap}
        onChange={setCap}
        placeholder="No cap"
        problem={checkedProblems ? capProblem(cap) : null}
      />
    </FormDialog>
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

/** How executions pick among the checked keys of one provider: in order, or round robin. */
function KeyChoiceStrategy({
  providerName,
  choice,
  checkedKeys,
  showProblems,
  onChange,
}: {
  providerName: string;
  choice: ProviderChoice;
  checkedKeys: ProviderKey[];
  showProblems: boolean;
  onChange: (change: Partial<ProviderChoice>) => void;
}) {
  const selectId = useId();
  return (
    <div className="strategy stack">
      <label htmlFor={selectId}>{`${providerName} key choice`}</label>
      <select
        id={selectId}
        value={choice.strategy}
        onChange={(e) => onChange({ strategy: e.target.value as Strategy })}
      >
        <option value="ordered">In order (the next key is failover)</option>
        <option value="round_robin">Round robin (spread by weight)</option>
      </select>
      {choice.strategy === 'round_robin' &&
        checkedKeys.map((key) => (
          <TextField
            key={key.id}
            label={`Weight of ${key.name}`}
            value={choice.weights[key.id] ?? ''}
            placeholder="1"
            onChange={(value) => onChange({ weights: { ...choice.weights, [key.id]: value } })}
            problem={showProblems ? weightProblem(choice.weights[key.id] ?? '') : null}
          />
        ))}
    </div>
  );
}
