import { useEffect, useState } from 'preact/hooks';
import { list, type NodeView } from '../api.ts';
import { LineChart } from '../charts.tsx';
import { usePoll } from '../hooks.ts';
import { byLabel, readMetrics, total } from '../metrics.ts';

interface Point {
  at: number;
  sessions: number;
  waiting: number;
  requests: number;
  errors: number;
}

/** What the overview has seen since the page opened: a point every few seconds, the last ten minutes of them. */
const history: Point[] = [];
const EVERY_MS = 3000;
const KEPT = 200;

async function sample(): Promise<{ errors: Map<string, number> }> {
  const response = await fetch('/metrics');
  const samples = readMetrics(await response.text());
  history.push({
    at: Date.now(),
    sessions: total(samples, 'berth_sessions'),
    waiting: total(samples, 'berth_sessions', { state: 'waiting_for_input' }),
    requests: total(samples, 'berth_request_duration_seconds_count'),
    errors: total(samples, 'berth_request_errors_total'),
  });
  if (history.length > KEPT) history.shift();
  return { errors: byLabel(samples, 'berth_request_errors_total', 'code') };
}

/** Per-second rates between successive points of a counter. */
function rate(key: 'requests' | 'errors'): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 1; i < history.length; i++) {
    const a = history[i - 1] as Point;
    const b = history[i] as Point;
    out.push([b.at, Math.max(0, (b[key] - a[key]) / ((b.at - a.at) / 1000))]);
  }
  return out;
}

export function Overview() {
  const nodes = usePoll(() => list<NodeView>('/v1/nodes', 'nodes'), 5000);
  const [errors, setErrors] = useState<Map<string, number>>(new Map());
  const [, redraw] = useState(0);
  useEffect(() => {
    const run = (): void => {
      sample().then(
        (found) => {
          setErrors(found.errors);
          redraw((n) => n + 1);
        },
        () => {},
      );
    };
    run();
    const timer = setInterval(run, EVERY_MS);
    return () => clearInterval(timer);
  }, []);
  const live = history.at(-1);
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <div class="stats" role="status" aria-live="polite">
        <p>
          <strong>{live?.sessions ?? '–'}</strong> live sessions
        </p>
        <p>
          <strong>{live?.waiting ?? '–'}</strong> waiting for input
        </p>
        <p>
          <strong>{nodes.value?.length ?? '–'}</strong> nodes
        </p>
      </div>
      <div class="charts">
        <LineChart title="Live sessions" series={[{ name: 'sessions', points: history.map((p) => [p.at, p.sessions]) }]} />
        <LineChart
          title="Requests per second"
          unit="/s"
          series={[
            { name: 'requests', points: rate('requests') },
            { name: 'errors', points: rate('errors') },
          ]}
        />
      </div>
      <h2>Nodes</h2>
      {nodes.error && <p role="alert">{nodes.error.message}</p>}
      <table>
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">URL</th>
            <th scope="col">State</th>
            <th scope="col">Sessions</th>
            <th scope="col">Lease until</th>
          </tr>
        </thead>
        <tbody>
          {(nodes.value ?? []).map((node) => (
            <tr key={node.id}>
              <td>
                {node.id}
                {node.self ? ' (this one)' : ''}
              </td>
              <td>{node.url}</td>
              <td>{node.live ? node.state : 'lost'}</td>
              <td>
                {node.sessions} / {node.capacity}
              </td>
              <td>{node.leaseUntil ?? '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Errors since the node started</h2>
      {errors.size === 0 ? (
        <p>None.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Code</th>
              <th scope="col">Requests</th>
            </tr>
          </thead>
          <tbody>
            {[...errors].map(([code, count]) => (
              <tr key={code}>
                <td>
                  <code>{code}</code>
                </td>
                <td>{count}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
