import { useRef, useState } from 'preact/hooks';
import { api, ApiError, formatBytes, type SessionView } from '../api.ts';
import { LineChart } from '../charts.tsx';
import { href, usePoll } from '../hooks.ts';

interface Logs {
  live: boolean;
  dropped: number;
  lines: Array<{ at: string; line: string }>;
}

/** One session: what it is, its requests, its server's log as it comes, its memory and CPU, its limits; stop it. */
export function SessionPage({ id }: { id: string }) {
  const path = `/v1/sessions/${encodeURIComponent(id)}`;
  const usage = useRef<Array<{ at: number; memory: number; cpu: number }>>([]);
  const lastCpuShare = useRef<Array<[number, number]>>([]);
  const session = usePoll(
    async () => {
      const found = await api<SessionView>('GET', path);
      const previous = usage.current.at(-1);
      const at = Date.now();
      const cpuSeconds = found.cpuSeconds ?? 0;
      // CPU as a share of one core over the last interval.
      const cpu = previous ? Math.max(0, (cpuSeconds - previous.cpu) / ((at - previous.at) / 1000)) : 0;
      usage.current = [...usage.current.slice(-120), { at, memory: found.memoryBytes ?? 0, cpu: cpuSeconds }];
      lastCpuShare.current = [...lastCpuShare.current.slice(-120), [at, cpu * 100]];
      return found;
    },
    2000,
    [id],
  );
  const logs = usePoll(() => api<Logs>('GET', `${path}/logs?tail=200`), 1000, [id]);
  const [stopping, setStopping] = useState<string | undefined>();
  const info = session.value;
  const ended = info?.state === 'ended';
  const stop = async (): Promise<void> => {
    setStopping('Stopping…');
    try {
      await api('DELETE', path);
      setStopping('Stopped.');
      session.reload();
    } catch (error) {
      setStopping(error instanceof ApiError ? error.message : String(error));
    }
  };
  return (
    <section aria-labelledby="session-title">
      <p>
        <a href={href('sessions')}>Sessions</a> /
      </p>
      <h1 id="session-title">Session {id}</h1>
      {session.error && !info && <p role="alert">{session.error.message}</p>}
      {info && (
        <>
          <dl class="facts">
            <dt>Runtime</dt>
            <dd>
              <a href={href('runtimes', info.runtime)}>{info.runtime}</a> v{info.version}
            </dd>
            <dt>State</dt>
            <dd data-testid="session-state">{ended ? `ended (${info.reason ?? ''})` : info.state}</dd>
            <dt>Principal</dt>
            <dd>{info.principal}</dd>
            <dt>Requests</dt>
            <dd>{info.requestCount ?? 0}</dd>
            <dt>Waiting for input</dt>
            <dd>{info.waitingForInput ?? 0} pending input rounds</dd>
            <dt>Memory</dt>
            <dd>{formatBytes(info.memoryBytes)}</dd>
            <dt>Node</dt>
            <dd>{info.node ?? ''}</dd>
          </dl>
          {!ended && (
            <p>
              <button type="button" class="danger" onClick={() => void stop()} disabled={stopping === 'Stopping…'}>
                Stop session
              </button>
            </p>
          )}
          {stopping && <p role="status">{stopping}</p>}
          <div class="charts">
            <LineChart
              title="Requests (duration of each, ms)"
              unit=" ms"
              series={[{ name: 'duration', points: (info.recentRequests ?? []).map((r) => [Date.parse(r.at), r.ms]) }]}
            />
            <LineChart title="Memory (MB)" unit=" MB" series={[{ name: 'memory', points: usage.current.map((u) => [u.at, u.memory / 1024 / 1024]) }]} />
            <LineChart title="CPU (% of a core)" unit="%" series={[{ name: 'cpu', points: lastCpuShare.current }]} />
          </div>
          <h2>Latest requests</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">At</th>
                <th scope="col">Method</th>
                <th scope="col">Status</th>
                <th scope="col">Took</th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {[...(info.recentRequests ?? [])]
                .reverse()
                .slice(0, 20)
                .map((r, i) => (
                  <tr key={`${r.at}-${i}`}>
                    <td>{new Date(r.at).toLocaleTimeString()}</td>
                    <td>{r.method}</td>
                    <td>{r.status}</td>
                    <td>{r.ms} ms</td>
                    <td>{r.error ?? ''}</td>
                  </tr>
                ))}
            </tbody>
          </table>
          <h2>Limits it ran into</h2>
          {info.limits.length === 0 ? (
            <p>None.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Limit</th>
                  <th scope="col">Effect</th>
                  <th scope="col">Times</th>
                  <th scope="col">Detail</th>
                </tr>
              </thead>
              <tbody>
                {info.limits.map((limit) => (
                  <tr key={limit.limit}>
                    <td>{limit.limit}</td>
                    <td>{limit.effect}</td>
                    <td>{limit.count}</td>
                    <td>{limit.detail}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
      <h2 id="log-title">Log</h2>
      {logs.value && logs.value.dropped > 0 && <p>{logs.value.dropped} older lines were dropped.</p>}
      <pre class="log" role="log" aria-labelledby="log-title" aria-live="polite" tabIndex={0}>
        {(logs.value?.lines ?? []).map((line) => `${line.at}  ${line.line}\n`).join('')}
      </pre>
    </section>
  );
}
