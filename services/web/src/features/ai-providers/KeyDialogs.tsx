import { useId, useRef, useState } from 'react';
import { CheckField } from '../../components/CheckField';
import { Dialog } from '../../components/Dialog';
import { ErrorAlert } from '../../components/ErrorAlert';
import { FormDialog } from '../../components/FormDialog';
import { SecretField, TextField } from '../../components/TextField';
import type { ProviderKey } from '../../lib/api';
import { useDeleteProviderKey, useUpdateProviderKey } from './api';
import { keyProblem, nameProblem } from './validation';

export function RenameDialog({ providerKey, onClose }: { providerKey: ProviderKey; onClose: () => void }) {
  const [name, setName] = useState(providerKey.name);
  const [problem, setProblem] = useState<string | null>(null);
  const update = useUpdateProviderKey();

  const submit = () => {
    const found = nameProblem(name);
    setProblem(found);
    update.reset();
    if (found) return;
    update.mutate({ id: providerKey.id, body: { name: name.trim() } }, { onSuccess: onClose });
  };

  return (
    <FormDialog
      title="Rename provider key"
      onClose={onClose}
      onSubmit={submit}
      error={update.error}
      saveDisabled={update.isPending}
    >
      <TextField label="Name" value={name} onChange={setName} problem={problem} />
    </FormDialog>
  );
}

/** "Replace key": the new value stays in its (uncontrolled) password field until "Save". */
export function ReplaceKeyDialog({ providerKey, onClose }: { providerKey: ProviderKey; onClose: () => void }) {
  const keyRef = useRef<HTMLInputElement>(null);
  const [verify, setVerify] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const update = useUpdateProviderKey();

  const close = () => {
    if (keyRef.current) keyRef.current.value = '';
    onClose();
  };

  const submit = () => {
    const value = keyRef.current?.value ?? '';
    const found = keyProblem(value);
    setProblem(found);
    update.reset();
    if (found) return;
    update.mutate({ id: providerKey.id, body: { api_key: value.trim(), verify } }, { onSuccess: close });
  };

  return (
    <FormDialog title="Replace key" onClose={close} onSubmit={submit} error={update.error} saveDisabled={update.isPending}>
      <p className="muted">
        {providerKey.name}: the new value replaces the old one; the key keeps its workspaces.
      </p>
      <SecretField label="New API key" inputRef={keyRef} problem={problem} />
      <CheckField label="Verify with the provider" checked={verify} onChange={setVerify} />
    </FormDialog>
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
