import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from './metrics.ts';

test('renders counters with labels and gauges read at render time', () => {
  const metrics = new Metrics();
  const requests = metrics.counter('berth_requests_total', 'Requests.');
  requests({ route: 'mcp', status: '200' });
  requests({ route: 'mcp', status: '200' }, 2);
  let live = 1;
  metrics.gauge('berth_sessions_live', 'Live sessions.', () => live);
  let sent = 7;
  metrics.counted('berth_store_statements_total', 'Statements.', () => sent);
  live = 4;
  sent = 9;
  const text = metrics.render();
  assert.match(text, /^berth_store_statements_total 9$/m);
  assert.match(text, /# TYPE berth_store_statements_total counter/);
  assert.match(text, /^berth_requests_total\{route="mcp",status="200"\} 3$/m);
  assert.match(text, /^berth_sessions_live 4$/m);
  assert.match(text, /# TYPE berth_requests_total counter/);
});
