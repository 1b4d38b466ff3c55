import { api, ago, list, type EndpointView, type RuntimeView, type VersionView } from '../api.ts';
import { href, usePoll } from '../hooks.ts';

export function Runtimes() {
  const runtimes = usePoll(() => list<RuntimeView>('/v1/runtimes', 'runtimes'), 5000);
  return (
    <section aria-labelledby="runtimes-title">
      <h1 id="runtimes-title">Runtimes</h1>
      {runtimes.error && <p role="alert">{runtimes.error.message}</p>}
      {runtimes.value?.length === 0 && (
        <p>
          No runtimes yet: <code>berth deploy</code> one.
        </p>
      )}
      <table>
        <thead>
          <tr>
            <th scope="col">Runtime</th>
            <th scope="col">Version</th>
            <th scope="col">Kind</th>
            <th scope="col">Live sessions</th>
            <th scope="col">Warm pool</th>
            <th scope="col">Deployed</th>
          </tr>
        </thead>
        <tbody>
          {(runtimes.value ?? []).map((runtime) => (
            <tr key={runtime.name}>
              <td>
                <a href={href('runtimes', runtime.name)}>{runtime.name}</a>
              </td>
              <td>v{runtime.latestVersion}</td>
              <td>
                {runtime.spec.protocol === 'http' ? 'agent' : 'MCP'} over {runtime.spec.transport}
              </td>
              <td>
                <a href={`${href('sessions')}?runtime=${encodeURIComponent(runtime.name)}`}>{runtime.liveSessions}</a>
              </td>
              <td>{runtime.warmPool ? `${runtime.warmPool.ready}/${runtime.warmPool.size} ready` : '–'}</td>
              <td>{ago(runtime.updatedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** A runtime: its current spec, its pool on this node, its endpoints and every version deployed. */
export function RuntimePage({ name }: { name: string }) {
  const runtime = usePoll(() => api<RuntimeView>('GET', `/v1/runtimes/${encodeURIComponent(name)}`), 5000, [name]);
  const versions = usePoll(() => list<VersionView>(`/v1/runtimes/${encodeURIComponent(name)}/versions`, 'versions'), 15_000, [name]);
  const endpoints = usePoll(() => list<EndpointView>(`/v1/runtimes/${encodeURIComponent(name)}/endpoints`, 'endpoints'), 15_000, [name]);
  const spec = runtime.value?.spec ?? {};
  return (
    <section aria-labelledby="runtime-title">
      <p>
        <a href={href('runtimes')}>Runtimes</a> /
      </p>
      <h1 id="runtime-title">{name}</h1>
      {runtime.error && <p role="alert">{runtime.error.message}</p>}
      {runtime.value && (
        <dl class="facts">
          <dt>Current version</dt>
          <dd>v{runtime.value.latestVersion}</dd>
          <dt>Command</dt>
          <dd>
            <code>{String(spec.command ?? '')}</code>
          </dd>
          <dt>Transport</dt>
          <dd>{String(spec.transport ?? '')}</dd>
          <dt>Live sessions</dt>
          <dd>
            <a href={`${href('sessions')}?runtime=${encodeURIComponent(name)}`}>{runtime.value.liveSessions}</a>
          </dd>
          <dt>Warm pool</dt>
          <dd>
            {runtime.value.warmPool ? `${runtime.value.warmPool.ready} of ${runtime.value.warmPool.size} ready (v${runtime.value.warmPool.version})` : 'none'}
          </dd>
          <dt>Network</dt>
          <dd>{JSON.stringify(spec.network ?? { mode: 'none' })}</dd>
          <dt>Limits</dt>
          <dd>{spec.limits ? JSON.stringify(spec.limits) : "the node's defaults"}</dd>
        </dl>
      )}
      <h2>Endpoints</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Endpoint</th>
            <th scope="col">Version</th>
            <th scope="col">Description</th>
          </tr>
        </thead>
        <tbody>
          {(endpoints.value ?? []).map((endpoint) => (
            <tr key={endpoint.name}>
              <td>{endpoint.name}</td>
              <td>v{endpoint.version}</td>
              <td>{endpoint.description ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Deploy history</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Deployed</th>
            <th scope="col">Command</th>
          </tr>
        </thead>
        <tbody>
          {[...(versions.value ?? [])]
            .sort((a, b) => b.version - a.version)
            .map((version) => (
              <tr key={version.version}>
                <td>v{version.version}</td>
                <td>{new Date(version.createdAt).toLocaleString()}</td>
                <td>
                  <code>{String(version.spec.command ?? '')}</code>
                </td>
              </tr>
            ))}
        </tbody>
      </table>
    </section>
  );
}
