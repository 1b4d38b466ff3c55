import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BerthMetrics, methodLabel } from './berth-metrics.ts';
import { Metrics } from './metrics.ts';

test('a method label is a known MCP method, or one of a few words: a client inventing methods makes no series', () => {
  assert.equal(methodLabel('tools/call'), 'tools/call');
  assert.equal(methodLabel('notifications/cancelled'), 'notification');
  assert.equal(methodLabel('response'), 'response');
  assert.equal(methodLabel('x/'.repeat(50)), 'other');
  assert.equal(methodLabel(undefined), '');
});

test('a request is counted by its runtime only once it named a real one; its error by code', () => {
  const metrics = new BerthMetrics(new Metrics());
  metrics.request({ requestId: 'r1', door: 'mcp', method: 'tools/call' }, 0.2);
  metrics.request({ requestId: 'r2', door: 'mcp', runtime: 'echo', method: 'made/up', error: 'session_not_found' }, 0.02);
  const text = metrics.registry.render();
  assert.match(text, /^berth_request_duration_seconds_count\{runtime="echo",door="mcp",method="other"\} 1$/m);
  assert.match(text, /^berth_request_errors_total\{runtime="echo",door="mcp",code="session_not_found"\} 1$/m);
  assert.doesNotMatch(text, /runtime=""/);
});
