import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drainSessions, type Drainable } from './drain.ts';

function fakeSessions(working: number): Drainable & { drained: boolean; working: number } {
  return {
    drained: false,
    working,
    drain() {
      this.drained = true;
    },
  };
}

test('a drain stops new sessions and ends once the work under way is done', async () => {
  const sessions = fakeSessions(2);
  const drained = drainSessions(sessions, 10_000);
  assert.equal(sessions.drained, true);
  setTimeout(() => (sessions.working = 0), 120);
  assert.equal(await drained, true);
});

test('a drain with nothing under way ends at once', async () => {
  const started = Date.now();
  assert.equal(await drainSessions(fakeSessions(0), 10_000), true);
  assert.ok(Date.now() - started < 1000);
});

test('a drain gives up when the grace runs out with work still under way', async () => {
  assert.equal(await drainSessions(fakeSessions(1), 150), false);
  assert.equal(await drainSessions(fakeSessions(1), 0), false);
});
