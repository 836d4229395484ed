import { useId, useState, type FormEvent } from 'react';
import { useLocation, useNavigate } from 'react-router-dom';
import { ErrorAlert } from '../../components/ErrorAlert';
import { SignInFrame } from '../../components/SignInFrame';
import { signIn, useSession } from '../../lib/session';
import { useAuthOptions, useDevSignIn, type Role } from './api';
import { authorizationUrl, type OidcOptions } from './oidc';

const ROLES: Role[] = ['OWNER', 'ADMIN', 'MEMBER'];

export function SignInScreen() {
  const { ended } = useSession();
  const options = useAuthOptions();
  const [token, setToken] = useState('');
  const [tokenError, setTokenError] = useState<string | null>(null);
  const tokenId = useId();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!token.trim()) {
      setTokenError('Paste an access token.');
      return;
    }
    setTokenError(null);
    const value = token;
    setToken('');
    signIn(value);
  };

  return (
    <SignInFrame>
      <h1>Sign in</h1>
      {ended === 'expired' && (
        <div role="alert" className="alert alert-error">
          Your session has expired. Sign in again.
        </div>
      )}
      {options.isError && <ErrorAlert error={options.error} />}
      {options.data?.oidc && <OidcSignIn options={options.data.oidc} />}
      <form onSubmit={submit} className="card stack" noValidate>
        <label htmlFor={tokenId}>Access token</label>
        <textarea
          id={tokenId}
          value={token}
          onChange={(e) => setToken(e.target.value)}
          rows={4}
          autoComplete="off"
          spellCheck={false}
          aria-invalid={tokenError ? true : undefined}
        />
        {tokenError && (
          <p role="alert" className="field-error">
            {tokenError}
          </p>
        )}
        <div>
          <button type="submit" className="primary">
            Sign in
          </button>
        </div>
      </form>
      {options.data?.dev_sign_in && <DevSignIn />}
    </SignInFrame>
  );
}

function OidcSignIn({ options }: { options: OidcOptions }) {
  const location = useLocation();
  const [error, setError] = useState<string | null>(null);
  const [leaving, setLeaving] = useState(false);
  const returnTo = location.pathname === '/' ? '/workspaces' : location.pathname + location.search;

  const start = () => {
    setError(null);
    setLeaving(true);
    authorizationUrl(options, window.location.origin, returnTo).then(
      (url) => window.location.assign(url),
      () => {
        setLeaving(false);
        setError('This browser cannot start a secure sign-in (Web Crypto is unavailable).');
      },
    );
  };

  return (
    <div className="card stack">
      <p>Sign in with your organization&apos;s account.</p>
      {error && (
        <p role="alert" className="field-error">
          {error}
        </p>
      )}
      <div>
        <button type="button" className="primary" onClick={start} disabled={leaving}>
          Sign in with your organization
        </button>
      </div>
    </div>
  );
}

function DevSignIn() {
  const navigate = useNavigate();
  const devSignIn = useDevSignIn();
  const [org, setOrg] = useState('org-dev');
  const [role, setRole] = useState<Role>('OWNER');
  const orgId = useId();
  const roleId = useId();
  const headingId = useId();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    devSignIn.mutate(
      { org_id: org.trim(), role },
      {
        onSuccess: (token) => {
          navigate('/workspaces', { replace: true });
          signIn(token);
        },
      },
    );
  };

  return (
    <section aria-labelledby={headingId} className="card">
      <h2 id={headingId}>Dev sign-in</h2>
      <form onSubmit={submit} className="stack">
        <label htmlFor={orgId}>Organization</label>
        <input id={orgId} type="text" value={org} onChange={(e) => setOrg(e.target.value)} />
        <label htmlFor={roleId}>Role</label>
        <select id={roleId} value={role} onChange={(e) => setRole(e.target.value as Role)}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
        <ErrorAlert error={devSignIn.error} />
        <div>
          <button type="submit" className="primary" disabled={devSignIn.isPending}>
            Dev sign-in
          </button>
        </div>
      </form>
    </section>
  );
}
