import type { ReactNode } from 'react';
import { errorText } from '../lib/api';

/** Every error shows the problem's `detail` in an element with role="alert". */
export function ErrorAlert({ error, children }: { error: unknown; children?: ReactNode }) {
  if (!error) return null;
  return (
    <div role="alert" className="alert alert-error">
      <p>{errorText(error)}</p>
      {children}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status">
      Loading {what}…
    </p>
  );
}
