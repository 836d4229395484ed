import { useId, useRef, useState, type FormEvent } from 'react';
import { Dialog } from '../../components/Dialog';
import { ErrorAlert } from '../../components/ErrorAlert';
import type { ProviderKey } from '../../lib/api';
import { useDeleteProviderKey, useUpdateProviderKey } from './api';
import { keyProblem, nameProblem } from './validation';

export function RenameDialog({ providerKey, onClose }: { providerKey: ProviderKey; onClose: () => void }) {
  const nameId = useId();
  const errId = useId();
  const [name, setName] = useState(providerKey.name);
  const [problem, setProblem] = useState<string | null>(null);
  const update = useUpdateProviderKey();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const found = nameProblem(name);
    setProblem(found);
    update.reset();
    if (found) return;
    update.mutate({ id: providerKey.id, body: { name: name.trim() } }, { onSuccess: onClose });
  };

  return (
    <Dialog title="Rename provider key" onClose={onClose}>
      <form onSubmit={submit} className="stack" noValidate>
        <label htmlFor={nameId}>Name</label>
        <input
          id={nameId}
          type="text"
          value={name}
          onChange={(e) => setName(e.target.value)}
          aria-invalid={problem ? true : undefined}
          aria-describedby={problem ? errId : undefined}
        />
        {problem && (
          <p id={errId} role="alert" className="field-error">
            {problem}
          </p>
        )}
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

/** "Replace key": the new value stays in its (uncontrolled) password field until "Save". */
export function ReplaceKeyDialog({ providerKey, onClose }: { providerKey: ProviderKey; onClose: () => void }) {
  const keyId = useId();
  const verifyId = useId();
  const errId = useId();
  const keyRef = useRef<HTMLInputElement>(null);
  const [verify, setVerify] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const update = useUpdateProviderKey();

  const close = () => {
    if (keyRef.current) keyRef.current.value = '';
    onClose();
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const value = keyRef.current?.value ?? '';
    const found = keyProblem(value);
    setProblem(found);
    update.reset();
    if (found) return;
    update.mutate({ id: providerKey.id, body: { api_key: value.trim(), verify } }, { onSuccess: close });
  };

  return (
    <Dialog title="Replace key" onClose={close}>
      <form onSubmit={submit} className="stack" noValidate>
        <p className="muted">
          {providerKey.name}: the new value replaces the old one; the key keeps its workspaces.
        </p>
        <label htmlFor={keyId}>New API key</label>
        <input
          id={keyId}
          ref={keyRef}
          type="password"
          autoComplete="off"
          spellCheck={false}
          autoCapitalize="off"
          autoCorrect="off"
          aria-invalid={problem ? true : undefined}
          aria-describedby={problem ? errId : undefined}
        />
        {problem && (
          <p id={errId} role="alert" className="field-error">
            {problem}
          </p>
        )}
        <div className="check">
          <input id={verifyId} type="checkbox" checked={verify} onChange={(e) => setVerify(e.target.checked)} />
          <label htmlFor={verifyId}>Verify with the provider</label>
        </div>
        <ErrorAlert error={update.error} />
        <div className="actions">
          <button type="submit" className="primary" disabled={update.isPending}>
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

export function DeleteDialog({
  providerKey,
  workspaceNames,
  onClose,
}: {
  providerKey: ProviderKey;
  workspaceNames: string[];
  onClose: () => void;
}) {
  const textId = useId();
  const cancelRef = useRef<HTMLButtonElement>(null);
  const remove = useDeleteProviderKey();
  const consequence =
    workspaceNames.length > 0
      ? `These workspaces lose this key: ${workspaceNames.join(', ')}.`
      : 'No workspace uses this key.';

  return (
    <Dialog title="Delete provider key" role="alertdialog" describedBy={textId} onClose={onClose} initialFocus={cancelRef}>
      <p id={textId}>
        Delete {providerKey.name}? {consequence}
      </p>
      <ErrorAlert error={remove.error} />
      <div className="actions">
        <button
          type="button"
          className="danger"
          disabled={remove.isPending}
          onClick={() => remove.mutate(providerKey.id, { onSuccess: onClose })}
        >
          Delete
        </button>
        <button type="button" ref={cancelRef} onClick={onClose}>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}
