import { useId, useRef, useState } from 'react';
import { Link } from 'react-router-dom';
import { CheckField } from '../../components/CheckField';
import { ErrorAlert } from '../../components/ErrorAlert';
import { FormDialog } from '../../components/FormDialog';
import { SecretField, TextField } from '../../components/TextField';
import { ApiError, type ProviderId } from '../../lib/api';
import { PROVIDERS } from '../../lib/format';
import { usePlan } from '../../lib/queries';
import { useCreateProviderKey } from './api';
import { keyProblem, nameProblem } from './validation';

function PlanLink() {
  return (
    <p>
      <Link to="/settings/plan">Plan &amp; Usage</Link>
    </p>
  );
}

/**
 * "Add Provider". The API key's value is never React state: it stays in the password field
 * (uncontrolled, so it is never written to an attribute) and is read only on "Save"; the field
 * goes away with the dialog.
 */
export function AddProviderDialog({ onClose }: { onClose: () => void }) {
  const providerId = useId();
  const [provider, setProvider] = useState<ProviderId>('anthropic');
  const [name, setName] = useState('');
  const [verify, setVerify] = useState(false);
  const [problems, setProblems] = useState<{ name: string | null; key: string | null }>({
    name: null,
    key: null,
  });
  const keyRef = useRef<HTMLInputElement>(null);
  const providerRef = useRef<HTMLSelectElement>(null);
  const plan = usePlan();
  const create = useCreateProviderKey();

  const limit = plan.data?.limits.provider_keys;
  const full =
    plan.data !== undefined && limit !== null && limit !== undefined && plan.data.usage.provider_keys >= limit;

  const close = () => {
    if (keyRef.current) keyRef.current.value = '';
    create.reset();
    onClose();
  };

  const submit = () => {
    if (full || create.isPending) return;
    const apiKey = keyRef.current?.value ?? '';
    const found = { name: nameProblem(name), key: keyProblem(apiKey) };
    setProblems(found);
    create.reset();
    if (found.name || found.key) return;
    create.mutate(
      { provider, name: name.trim(), api_key: apiKey.trim(), verify },
      {
        onSuccess: () => {
          if (keyRef.current) keyRef.current.value = '';
          onClose();
        },
      },
    );
  };

  const serverError = create.error;
  const planReached = serverError instanceof ApiError && serverError.code === 'plan_limit_reached';

  return (
    <FormDialog
      title="Add Provider"
      onClose={close}
      onSubmit={submit}
      saveDisabled={full || create.isPending}
      initialFocus={providerRef}
    >
      {full && plan.data && (
        <div role="alert" className="alert alert-error">
          <p>
            Plan limit reached: the {plan.data.plan} plan allows {limit} provider keys.
          </p>
          <PlanLink />
        </div>
      )}
      <label htmlFor={providerId}>Provider</label>
      <select ref={providerRef} id={providerId} value={provider} onChange={(e) => setProvider(e.target.value as ProviderId)}>
        {PROVIDERS.map((p) => (
          <option key={p.id} value={p.id}>
            {p.name}
          </option>
        ))}
      </select>

      <TextField
        label="Name"
        value={name}
        placeholder="Production Anthropic Key"
        onChange={setName}
        problem={problems.name}
      />

      <SecretField label="API key" inputRef={keyRef} problem={problems.key} />

      <CheckField label="Verify with the provider" checked={verify} onChange={setVerify} />

      <ErrorAlert error={serverError}>{planReached && <PlanLink />}</ErrorAlert>
    </FormDialog>
  );
}
