import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Sandbox } from '../sandbox/driver.ts';
import { OutputLog } from '../sandbox/output-log.ts';
import { EndedSessions } from './ended-sessions.ts';
import type { Session } from './session.ts';

/** A session whose sandbox (when it has one) printed one line. */
function session(id: string, withSandbox = true): Session {
  const output = new OutputLog(1024);
  output.push(`${id} says hello`);
  const sandbox = { output, limits: () => [{ limit: 'memory', effect: 'refused', detail: 'd', firstAt: 'a', lastAt: 'b', count: 1 }] } as unknown as Sandbox;
  return {
    id,
    principal: { key: 'k', userId: 'alice' },
    target: { runtime: 'rt', version: 3 },
    ...(withSandbox ? { sandbox } : {}),
  } as unknown as Session;
}

test('an end is recorded with why, how, the limits met and the output', () => {
  const ended = new EndedSessions();
  const record = ended.add(session('ses_a'), 'sandbox-exit', { reason: 'server-exit', exitCode: 1 });
  assert.deepEqual(
    { ...record, endedAt: undefined },
    {
      id: 'ses_a',
      runtime: 'rt',
      version: 3,
      principal: 'alice',
      endedAt: undefined,
      reason: 'sandbox-exit',
      exit: { reason: 'server-exit', exitCode: 1 },
      limits: [{ limit: 'memory', effect: 'refused', detail: 'd', firstAt: 'a', lastAt: 'b', count: 1 }],
    },
  );
  assert.equal(ended.get('ses_a'), record);
  assert.deepEqual(
    ended
      .output('ses_a')
      ?.read()
      .lines.map((line) => line.line),
    ['ses_a says hello'],
  );
});

test('a start that failed is recorded with its error, and its output is kept apart', () => {
  const ended = new EndedSessions();
  const record = ended.add(session('ses_b', false), 'start-failed', undefined, { code: 'sandbox_failed', message: 'no' });
  assert.deepEqual(record.error, { code: 'sandbox_failed', message: 'no' });
  assert.equal(record.exit, undefined);
  assert.deepEqual(record.limits, []);
  assert.equal(ended.output('ses_b'), undefined);
  const output = new OutputLog(1024);
  ended.keepOutput('ses_b', output);
  assert.equal(ended.output('ses_b'), output);
});

test('the history forgets the oldest end first, and a session that ends again counts as new', () => {
  const ended = new EndedSessions(2);
  ended.add(session('ses_1'), 'idle');
  ended.add(session('ses_2'), 'idle');
  ended.add(session('ses_1'), 'stopped');
  ended.add(session('ses_3'), 'idle');
  assert.equal(ended.get('ses_2'), undefined);
  assert.equal(ended.get('ses_1')?.reason, 'stopped');
  assert.ok(ended.get('ses_3'));
});

test('output is kept for the 64 most recent ends only', () => {
  const ended = new EndedSessions();
  for (let i = 0; i < 65; i++) ended.add(session(`ses_${i}`), 'idle');
  assert.equal(ended.output('ses_0'), undefined);
  assert.ok(ended.output('ses_1'));
  assert.ok(ended.get('ses_0'));
});
