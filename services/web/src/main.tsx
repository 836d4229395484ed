import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app/App';
import { AppProviders, AppRouter } from './app/provider';
import { consumeTokenFragment } from './lib/session';
import './styles.css';

// Before anything else: a sign-in link's #token=… goes to sessionStorage, off the address bar.
consumeTokenFragment();
// A sign-in link opened in a tab that is already running: start afresh with the new token.
window.addEventListener('hashchange', () => {
  if (consumeTokenFragment()) window.location.reload();
});

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <AppProviders>
        <AppRouter>
          <App />
        </AppRouter>
      </AppProviders>
    </StrictMode>,
  );
}
