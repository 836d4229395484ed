import type { FormEvent, ReactNode, RefObject } from 'react';
import { Dialog } from './Dialog';
import { ErrorAlert } from './ErrorAlert';
import { FormActions } from './FormActions';

interface FormDialogProps {
  title: string;
  /** Escape, Cancel. */
  onClose: () => void;
  /** Save (Enter in a field too); the browser's own submission is prevented. */
  onSubmit: () => void;
  saveDisabled: boolean;
  /** The request's error, in an alert above Save / Cancel. */
  error?: unknown;
  initialFocus?: RefObject<HTMLElement>;
  children: ReactNode;
}

/** A dialog holding one form: its fields, the request's error, then Save / Cancel. */
export function FormDialog({ title, onClose, onSubmit, saveDisabled, error, initialFocus, children }: FormDialogProps) {
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onSubmit();
  };
  return (
    <Dialog title={title} onClose={onClose} initialFocus={initialFocus}>
      <form onSubmit={submit} className="stack" noValidate>
        {children}
        <ErrorAlert error={error} />
        <FormActions onCancel={onClose} saveDisabled={saveDisabled} />
      </form>
    </Dialog>
  );
}
