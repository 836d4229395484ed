import { useEffect, useState } from 'react';
import { useLocation, useNavigate } from 'react-router-dom';
import { SignInFrame } from '../../components/SignInFrame';
import { signIn } from '../../lib/session';
import { completeSignIn } from './oidc';

// One exchange per callback URL: React's StrictMode runs effects twice, and an authorization
// code (like the pending PKCE state) can be used only once.
const attempts = new Map<string, ReturnType<typeof completeSignIn>>();

/** /auth/callback: where the OIDC provider sends the browser back with a code. */
export function OidcCallback() {
  const navigate = useNavigate();
  const { search } = useLocation();
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let attempt = attempts.get(search);
    if (!attempt) {
      attempt = completeSignIn(search);
      attempts.set(search, attempt);
    }
    let active = true;
    attempt.then(
      ({ token, returnTo }) => {
        if (!active) return;
        navigate(returnTo, { replace: true });
        signIn(token);
      },
      (reason: unknown) => {
        if (active) setError(reason instanceof Error ? reason.message : String(reason));
      },
    );
    return () => {
      active = false;
    };
  }, [search, navigate]);

  return (
    <SignInFrame>
      <h1>Signing in</h1>
      {error ? (
        <>
          <div role="alert" className="alert alert-error">
            {error}
          </div>
          <p>
            <button type="button" className="primary" onClick={() => navigate('/', { replace: true })}>
              Back to sign-in
            </button>
          </p>
        </>
      ) : (
        <p role="status">Finishing sign-in…</p>
      )}
    </SignInFrame>
  );
}
