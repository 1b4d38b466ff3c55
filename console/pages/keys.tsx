import { useState } from 'preact/hooks';
import { api, list, type KeyView, type RuntimeView } from '../api.ts';
import { usePoll } from '../hooks.ts';
import { RuntimeSelect } from '../runtime-select.tsx';

/** API keys: make one (shown once), see them all (never the keys themselves), revoke one. */
export function Keys() {
  const keys = usePoll(() => list<KeyView>('/v1/keys', 'keys'), 10_000);
  const runtimes = usePoll(() => list<RuntimeView>('/v1/runtimes', 'runtimes'), 30_000);
  const [kind, setKind] = useState<'runtime' | 'admin'>('runtime');
  const [runtime, setRuntime] = useState('');
  const [user, setUser] = useState('');
  const [description, setDescription] = useState('');
  const [made, setMade] = useState<KeyView & { key: string }>();
  const [message, setMessage] = useState<string | undefined>();
  const create = async (event: Event): Promise<void> => {
    event.preventDefault();
    setMessage(undefined);
    try {
      const body = kind === 'admin' ? { admin: true, description } : { runtime, ...(user ? { user } : {}), description };
      setMade(await api<KeyView & { key: string }>('POST', '/v1/keys', body));
      keys.reload();
    } catch (error) {
      setMessage((error as Error).message);
    }
  };
  const revoke = async (id: string): Promise<void> => {
    try {
      await api('DELETE', `/v1/keys/${encodeURIComponent(id)}`);
      setMessage(`Key ${id} revoked.`);
      keys.reload();
    } catch (error) {
      setMessage((error as Error).message);
    }
  };
  return (
    <section aria-labelledby="keys-title">
      <h1 id="keys-title">API keys</h1>
      <form class="filters" onSubmit={(event) => void create(event)} aria-labelledby="new-key-title">
        <h2 id="new-key-title">New key</h2>
        <label>
          Opens
          <select value={kind} onChange={(event) => setKind((event.target as HTMLSelectElement).value as 'runtime' | 'admin')}>
            <option value="runtime">a runtime's sessions</option>
            <option value="admin">the control API (admin)</option>
          </select>
        </label>
        {kind === 'runtime' && (
          <>
            <RuntimeSelect runtimes={runtimes.value} value={runtime} onChange={setRuntime} none="choose one" required />
            <label>
              User
              <input value={user} onInput={(event) => setUser((event.target as HTMLInputElement).value)} />
            </label>
          </>
        )}
        <label>
          Description
          <input value={description} onInput={(event) => setDescription((event.target as HTMLInputElement).value)} />
        </label>
        <button type="submit">Make key</button>
      </form>
      {made && (
        <div class="notice" role="status">
          <p>
            Key <strong>{made.id}</strong> made. Copy it now: berth never shows it again.
          </p>
          <label>
            The key
            <input readOnly value={made.key} onFocus={(event) => (event.target as HTMLInputElement).select()} />
          </label>
        </div>
      )}
      {message && <p role="status">{message}</p>}
      <table>
        <thead>
          <tr>
            <th scope="col">Key</th>
            <th scope="col">Opens</th>
            <th scope="col">User</th>
            <th scope="col">Description</th>
            <th scope="col">Made</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(keys.value ?? []).map((key) => (
            <tr key={key.id}>
              <td>{key.id}</td>
              <td>{key.admin ? 'control API' : `runtime ${key.runtime ?? ''}`}</td>
              <td>{key.user ?? ''}</td>
              <td>{key.description ?? ''}</td>
              <td>{new Date(key.createdAt).toLocaleString()}</td>
              <td>
                {key.revokedAt ? (
                  'revoked'
                ) : (
                  <button type="button" class="danger" onClick={() => void revoke(key.id)} aria-label={`Revoke key ${key.id}`}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
