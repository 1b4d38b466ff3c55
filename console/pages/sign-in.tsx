import { useState } from 'preact/hooks';
import { api } from '../api.ts';

/**
 * Sign in with an admin key (`berth keys create --admin`, or the one berth made in its home at first start). The
 * key goes in the body of one POST; berth keeps it in an HttpOnly cookie, so this page never holds it after.
 */
export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api('POST', '/v1/console/session', { key: key.trim() });
      setKey('');
      onSignedIn();
    } catch (failed) {
      setError((failed as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="sign-in">
      <h1>berth console</h1>
      <form onSubmit={(event) => void submit(event)}>
        <label for="admin-key">Admin key</label>
        <input
          id="admin-key"
          name="key"
          type="password"
          autocomplete="current-password"
          required
          value={key}
          onInput={(event) => setKey((event.target as HTMLInputElement).value)}
          aria-describedby="admin-key-help"
        />
        <p id="admin-key-help" class="help">
          An admin key: <code>berth keys create --admin</code>, or the one berth wrote to <code>&lt;home&gt;/keys/admin-key</code>.
        </p>
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
