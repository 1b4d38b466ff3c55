import { render } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError } from './api.ts';
import { href, usePoll, useRoute } from './hooks.ts';
import { Overview } from './pages/overview.tsx';
import { Runtimes, RuntimePage } from './pages/runtimes.tsx';
import { Sessions } from './pages/sessions.tsx';
import { SessionPage } from './pages/session.tsx';
import { Playground } from './pages/playground.tsx';
import { Keys } from './pages/keys.tsx';
import { SignIn } from './pages/sign-in.tsx';
import './style.css';

const SECTIONS = [
  ['', 'Overview'],
  ['runtimes', 'Runtimes'],
  ['sessions', 'Sessions'],
  ['playground', 'Playground'],
  ['keys', 'API keys'],
] as const;

function App() {
  const route = useRoute();
  const [signedIn, setSignedIn] = useState<boolean | undefined>(undefined);
  // Whether the cookie still opens the control API: checked at start and whenever a call says it does not.
  const check = usePoll(async () => {
    try {
      await api('GET', '/v1/nodes?limit=1');
      setSignedIn(true);
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) setSignedIn(false);
      else throw error;
    }
    return true;
  }, 30_000);
  if (signedIn === undefined) return <p role="status">{check.error ? `berth does not answer: ${check.error.message}` : 'Checking your sign-in…'}</p>;
  if (!signedIn) return <SignIn onSignedIn={() => setSignedIn(true)} />;
  const [section = '', id] = route;
  const signOut = async (): Promise<void> => {
    await api('DELETE', '/v1/console/session');
    setSignedIn(false);
  };
  return (
    <>
      <header class="top">
        <a class="brand" href={href()}>
          berth
        </a>
        <nav aria-label="Console">
          <ul>
            {SECTIONS.map(([name, label]) => (
              <li key={name}>
                <a href={href(...(name ? [name] : []))} aria-current={section === name ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button type="button" class="quiet" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <main id="main">
        {section === '' && <Overview />}
        {section === 'runtimes' && (id ? <RuntimePage name={id} /> : <Runtimes />)}
        {section === 'sessions' && (id ? <SessionPage id={id} /> : <Sessions />)}
        {section === 'playground' && <Playground />}
        {section === 'keys' && <Keys />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
