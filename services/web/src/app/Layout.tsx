import { NavLink, Outlet } from 'react-router-dom';
import type { Me } from '../lib/api';
import { signOut } from '../lib/session';

export function Layout({ me }: { me: Me }) {
  return (
    <div className="shell">
      <header className="topbar">
        <span className="brand">FlowTrux AI Providers</span>
        <p className="who">
          <span>
            User <strong>{me.sub}</strong>
          </span>
          <span>
            Org <strong>{me.org_id}</strong>
          </span>
          <span>
            Role <strong>{me.role}</strong>
          </span>
        </p>
        <button type="button" onClick={() => signOut('signed-out')}>
          Sign out
        </button>
      </header>
      <div className="columns">
        <nav aria-label="Main" className="sidebar">
          <ul>
            <li>
              <NavLink to="/workspaces">Workspaces</NavLink>
            </li>
            <li>
              {me.role === 'OWNER' ? (
                <NavLink to="/settings/ai-providers">Settings</NavLink>
              ) : (
                <>
                  <button
                    type="button"
                    className="nav-disabled"
                    aria-disabled="true"
                    aria-describedby="settings-requires-owner"
                  >
                    Settings
                  </button>
                  <span id="settings-requires-owner" className="nav-note">
                    Requires OWNER role
                  </span>
                </>
              )}
            </li>
          </ul>
        </nav>
        <main id="main" className="content" tabIndex={-1}>
          <Outlet />
        </main>
      </div>
    </div>
  );
}
