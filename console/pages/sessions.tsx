import { useState } from 'preact/hooks';
import { ago, formatBytes, list, type RuntimeView, type SessionView } from '../api.ts';
import { href, routeQuery, usePoll } from '../hooks.ts';
import { RuntimeSelect } from '../runtime-select.tsx';

const STATES = ['', 'starting', 'ready', 'waiting', 'stopping'] as const;

/** Every live session of the cluster, filtered, refreshed every two seconds. */
export function Sessions() {
  const initial = routeQuery();
  const [runtime, setRuntime] = useState(initial.get('runtime') ?? '');
  const [state, setState] = useState(initial.get('state') ?? '');
  const [principal, setPrincipal] = useState(initial.get('principal') ?? '');
  const sessions = usePoll(() => list<SessionView>('/v1/sessions', 'sessions', runtime ? { runtime } : {}), 2000, [runtime]);
  const runtimes = usePoll(() => list<RuntimeView>('/v1/runtimes', 'runtimes'), 15_000);
  const shown = (sessions.value ?? []).filter(
    (session) =>
      (state === '' || (state === 'waiting' ? session.waitingForInput > 0 : session.state === state)) &&
      (principal === '' || session.principal.includes(principal)),
  );
  return (
    <section aria-labelledby="sessions-title">
      <h1 id="sessions-title">Sessions</h1>
      <form class="filters" onSubmit={(event) => event.preventDefault()}>
        <RuntimeSelect runtimes={runtimes.value} value={runtime} onChange={setRuntime} none="all" />
        <label>
          State
          <select value={state} onChange={(event) => setState((event.target as HTMLSelectElement).value)}>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s === '' ? 'any' : s === 'waiting' ? 'waiting for input' : s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Principal
          <input type="search" value={principal} onInput={(event) => setPrincipal((event.target as HTMLInputElement).value)} />
        </label>
      </form>
      {sessions.error && <p role="alert">{sessions.error.message}</p>}
      <p role="status" aria-live="polite">
        {shown.length} of {sessions.value?.length ?? 0} live sessions
      </p>
      <table>
        <thead>
          <tr>
            <th scope="col">Session</th>
            <th scope="col">Runtime</th>
            <th scope="col">State</th>
            <th scope="col">Principal</th>
            <th scope="col">Waiting for input</th>
            <th scope="col">Memory</th>
            <th scope="col">Last active</th>
            <th scope="col">Node</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((session) => (
            <tr key={session.id}>
              <td>
                <a href={href('sessions', session.id)}>{session.id}</a>
              </td>
              <td>
                {session.runtime} v{session.version}
              </td>
              <td>{session.state}</td>
              <td>{session.principal}</td>
              <td>{session.waitingForInput}</td>
              <td>{formatBytes(session.memoryBytes)}</td>
              <td>{ago(session.lastActiveAt)}</td>
              <td>{session.node ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
