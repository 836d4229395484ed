import { Link, Navigate, Route, Routes, useLocation } from 'react-router-dom';
import { WorkspaceDetailPage } from '../features/agent-node/WorkspaceDetailPage';
import { OidcCallback } from '../features/auth/OidcCallback';
import { SignInScreen } from '../features/auth/SignInScreen';
import { CALLBACK_PATH } from '../features/auth/oidc';
import { WorkspacesListPage } from '../features/workspaces/WorkspacesListPage';
import { ErrorAlert } from '../components/ErrorAlert';
import { SignInFrame } from '../components/SignInFrame';
import { useMe } from '../lib/queries';
import { useSession } from '../lib/session';
import { Layout } from './Layout';
import { SettingsPage } from './SettingsPage';

export function App() {
  const { token } = useSession();
  const { pathname } = useLocation();
  if (pathname === CALLBACK_PATH) return <OidcCallback />;
  if (!token) return <SignInScreen />;
  return <SignedIn />;
}

function SignedIn() {
  const me = useMe();
  if (me.isError) {
    return (
      <SignInFrame>
        <h1>FlowTrux AI Providers</h1>
        <ErrorAlert error={me.error} />
      </SignInFrame>
    );
  }
  if (!me.data) {
    return (
      <main id="main" className="signin">
        <p role="status">Loading…</p>
      </main>
    );
  }
  const user = me.data;
  return (
    <Routes>
      <Route element={<Layout me={user} />}>
        <Route index element={<Navigate to="/workspaces" replace />} />
        <Route path="workspaces" element={<WorkspacesListPage />} />
        <Route path="workspaces/:workspaceId" element={<WorkspaceDetailPage />} />
        <Route path="settings" element={<Navigate to="/settings/ai-providers" replace />} />
        <Route path="settings/ai-providers" element={<SettingsPage me={user} tab="ai-providers" />} />
        <Route path="settings/workspaces" element={<SettingsPage me={user} tab="workspaces" />} />
        <Route path="settings/plan" element={<SettingsPage me={user} tab="plan" />} />
        <Route path="settings/audit" element={<SettingsPage me={user} tab="audit" />} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}

function NotFound() {
  return (
    <>
      <h1>Page not found</h1>
      <p>
        <Link to="/workspaces">Go to Workspaces</Link>
      </p>
    </>
  );
}
