import { useId, useRef, useState, type FormEvent } from 'react';
import { Link } from 'react-router-dom';
import { Dialog } from '../../components/Dialog';
import { ApiError, errorText, type ProviderId } from '../../lib/api';
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
  const ids = { provider: useId(), name: useId(), key: useId(), verify: useId(), nameErr: useId(), keyErr: useId() };
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

  const submit = (event: FormEvent) => {
    event.preventDefault();
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
    <Dialog title="Add Provider" onClose={close} initialFocus={providerRef}>
      <form onSubmit={submit} className="stack" noValidate>
        {full && plan.data && (
          <div role="alert" className="alert alert-error">
            <p>
              Plan limit reached: the {plan.data.plan} plan allows {limit} provider keys.
            </p>
            <PlanLink />
          </div>
        )}
        <label htmlFor={ids.provider}>Provider</label>
        <select ref={providerRef} id={ids.provider} value={provider} onChange={(e) => setProvider(e.target.value as ProviderId)}>
          {PROVIDERS.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </select>

        <label htmlFor={ids.name}>Name</label>
        <input
          id={ids.name}
          type="text"
          value={name}
          placeholder="Production Anthropic Key"
          onChange={(e) => setName(e.target.value)}
          aria-invalid={problems.name ? true : undefined}
          aria-describedby={problems.name ? ids.nameErr : undefined}
        />
        {problems.name && (
          <p id={ids.nameErr} role="alert" className="field-error">
            {problems.name}
          </p>
        )}

        <label htmlFor={ids.key}>API key</label>
        <input
          id={ids.key}
          ref={keyRef}
          type="password"
          autoComplete="off"
          spellCheck={false}
          autoCapitalize="off"
          autoCorrect="off"
          aria-invalid={problems.key ? true : undefined}
          aria-describedby={problems.key ? ids.keyErr : undefined}
        />
        {problems.key && (
          <p id={ids.keyErr} role="alert" className="field-error">
            {problems.key}
          </p>
        )}

        <div className="check">
          <input id={ids.verify} type="checkbox" checked={verify} onChange={(e) => setVerify(e.target.checked)} />
          <label htmlFor={ids.verify}>Verify with the provider</label>
        </div>

        {serverError && (
          <div role="alert" className="alert alert-error">
            <p>{errorText(serverError)}</p>
            {planReached && <PlanLink />}
          </div>
        )}

        <div className="actions">
          <button type="submit" className="primary" disabled={full || create.isPending}>
            Save
          </button>
          <button type="button" onClick={close}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}
