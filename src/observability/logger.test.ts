import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from './logger.ts';
import { inScope } from './request-scope.ts';

test('text lines carry level, message and child fields; levels below the minimum are dropped', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'info', format: 'text', write: (l) => lines.push(l) }).child({ session: 's1' });
  log.debug('hidden');
  log.info('berth listening on http://127.0.0.1:1', { note: 'a b' });
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /info  berth listening on http:\/\/127\.0\.0\.1:1 session=s1 note="a b"$/);
});

test('json lines are parseable and render errors with their cause', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', format: 'json', write: (l) => lines.push(l) });
  log.error('failed', { err: new Error('outer', { cause: new Error('inner') }) });
  const parsed = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(parsed.level, 'error');
  assert.equal(parsed.err, 'Error: outer; cause: Error: inner');
});

test('a line logged for a request names the request, its trace and its session, whoever logs it; others name none', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'info', format: 'json', write: (l) => lines.push(l) });
  const notes = { requestId: 'req_1', session: 'sess-1' };
  inScope({ notes, trace: undefined, traceIds: { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16) } }, () => log.info('in a request'));
  log.info('on its own');
  const [inside, outside] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.equal(inside?.request, 'req_1');
  assert.equal(inside?.trace, 'a'.repeat(32));
  assert.equal(inside?.session, 'sess-1');
  assert.equal(outside?.request, undefined);
  assert.equal(outside?.trace, undefined);
});
