import type { ReactNode } from 'react';

/** The page around signing in (and its failures): the brand bar and a narrow main column. */
export function SignInFrame({ children }: { children: ReactNode }) {
  return (
    <div className="signin-page">
      <header className="topbar">
        <span className="brand">FlowTrux AI Providers</span>
      </header>
      <main id="main" className="signin">
        {children}
      </main>
    </div>
  );
}
