import { useState } from 'react';
import { FormDialog } from '../../components/FormDialog';
import { TextField } from '../../components/TextField';
import type { ProviderKey } from '../../lib/api';
import {
  budgetField,
  budgetProblem,
  expiryField,
  expiryProblem,
  parseBudget,
  parseExpiry,
} from '../../lib/budgets';
import { useUpdateProviderKey } from './api';

/** "Budget & expiry": a key's monthly budget (USD, empty = none) and expiry date (empty = never). */
export function LimitsDialog({ providerKey, onClose }: { providerKey: ProviderKey; onClose: () => void }) {
  const [budget, setBudget] = useState(budgetField(providerKey.budget_usd_monthly));
  const [expiry, setExpiry] = useState(expiryField(providerKey.expires_at));
  const [problems, setProblems] = useState<{ budget: string | null; expiry: string | null }>({
    budget: null,
    expiry: null,
  });
  const update = useUpdateProviderKey();

  const submit = () => {
    const found = { budget: budgetProblem(budget), expiry: expiryProblem(expiry) };
    setProblems(found);
    update.reset();
    if (found.budget || found.expiry) return;
    update.mutate(
      {
        id: providerKey.id,
        body: { budget_usd_monthly: parseBudget(budget), expires_at: parseExpiry(expiry) },
      },
      { onSuccess: onClose },
    );
  };

  return (
    <FormDialog title="Budget & expiry" onClose={onClose} onSubmit={submit} error={update.error} saveDisabled={update.isPending}>
      <p className="muted">
        {providerKey.name}: runs that would pass the monthly budget (UTC month) use the workspace&apos;s next key,
        or fail with budget_exceeded. An expired key is never used.
      </p>
      <TextField
        label="Monthly budget (USD)"
        value={budget}
        onChange={setBudget}
        problem={problems.budget}
        placeholder="No budget"
        inputMode="decimal"
      />
      <TextField label="Expires on" type="date" value={expiry} onChange={setExpiry} problem={problems.expiry} />
    </FormDialog>
  );
}
