import type { BerthMetrics } from '../observability/berth-metrics.ts';
import type { Labels } from '../observability/metrics.ts';
import type { SessionCensus, SessionManager } from './manager.ts';

/**
 * The node's session gauges, read at scrape time from one pass over its live sessions: sessions by runtime and
 * state (waiting for input among them), and their sandboxes' memory and CPU by runtime; the node's capacity beside.
 */
export function watchSessions(metrics: BerthMetrics, sessions: SessionManager, capacity: number): void {
  const { registry } = metrics;
  let census: SessionCensus[] = [];
  let takenAt = -Infinity;
  // The three families are rendered one after another: one pass over the sessions serves them all.
  const current = (): SessionCensus[] => {
    if (performance.now() - takenAt > 100) {
      census = [...sessions.census()];
      takenAt = performance.now();
    }
    return census;
  };
  registry.gauge('berth_sessions', 'Live sessions, by runtime and state (starting, idle, active, waiting_for_input, busy, stopping).', () =>
    tally(
      current(),
      (session) => ({ runtime: session.runtime, state: session.state }),
      () => 1,
    ),
  );
  registry.gauge('berth_sandbox_memory_bytes', "Memory charged to live sessions' sandboxes, by runtime.", () =>
    tally(
      current(),
      (session) => ({ runtime: session.runtime }),
      (session) => session.memoryBytes,
    ),
  );
  // A session between leaving the live ones and its exit's last count is in neither sum: the counter holds its
  // highest value rather than dip (a dip reads as a reset).
  const cpuShown = new Map<string, number>();
  registry.counted('berth_sandbox_cpu_seconds_total', "CPU time used by sessions' sandboxes, live and ended, by runtime.", () => {
    const byRuntime = new Map<string, number>(sessions.endedCpuSeconds());
    for (const session of current()) byRuntime.set(session.runtime, (byRuntime.get(session.runtime) ?? 0) + session.cpuSeconds);
    for (const [runtime, seconds] of byRuntime) cpuShown.set(runtime, Math.max(cpuShown.get(runtime) ?? 0, seconds));
    return [...cpuShown].map(([runtime, seconds]): [Labels, number] => [{ runtime }, seconds]);
  });
  registry.gauge('berth_node_session_capacity', 'Live sessions this node holds at most (BERTH_MAX_SESSIONS).', () => capacity);
}

/** Sums `value` over the sessions by the labels `key` gives each. */
function tally(all: readonly SessionCensus[], key: (session: SessionCensus) => Labels, value: (session: SessionCensus) => number): Array<[Labels, number]> {
  const sums = new Map<string, [Labels, number]>();
  for (const session of all) {
    const labels = key(session);
    const id = Object.values(labels).join('\0');
    const entry = sums.get(id);
    if (entry) entry[1] += value(session);
    else sums.set(id, [labels, value(session)]);
  }
  return [...sums.values()];
}
