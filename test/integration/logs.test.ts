/**
 * Per-session logs: what a session's server writes to stderr is kept for that session alone, bounded, readable
 * through `GET /v1/sessions/{id}/logs` and `berth logs` while it lives and for a while after it ends.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { BIN, deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { connectSession } from '../helpers/mcp.ts';
import { waitFor } from '../helpers/wait.ts';

interface Logs {
  live: boolean;
  dropped: number;
  lines: Array<{ at: string; line: string }>;
}

describe('per-session logs', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  const logs = async (id: string, query = ''): Promise<Logs> => {
    const response = await node.admin(`/v1/sessions/${id}/logs${query}`);
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as Logs;
  };

  before(async () => {
    node = await startBerth({ env: { BERTH_SESSION_LOG_KB: '4' } });
    const dir = await fixtureDir('counter-server');
    await deploy(node, 'logs-stdio', dir, { transport: 'stdio' });
    await deploy(node, 'logs-http', dir, { transport: 'http' });
  });
  after(async () => {
    await node?.stop();
  });

  for (const runtime of ['logs-stdio', 'logs-http']) {
    test(`${runtime}: each session's output is its own`, async () => {
      const a = await connectSession(node.url, runtime, randomUUID());
      const b = await connectSession(node.url, runtime, randomUUID());
      try {
        await a.call('write_stderr', { text: `secret of a ${a.sessionId}` });
        await b.call('write_stderr', { text: `secret of b ${b.sessionId}` });
        const has = async (id: string, line: string): Promise<boolean> => (await logs(id)).lines.some((entry) => entry.line === line);
        await waitFor(() => has(a.sessionId, `secret of a ${a.sessionId}`), "a's line");
        await waitFor(() => has(b.sessionId, `secret of b ${b.sessionId}`), "b's line");
        const ofA = await logs(a.sessionId);
        assert.equal(ofA.live, true);
        assert.ok(ofA.lines.every((entry) => !Number.isNaN(Date.parse(entry.at))));
        assert.ok(!ofA.lines.some((entry) => entry.line.includes('secret of b')), 'nothing of b in a');
        const ofB = await logs(b.sessionId);
        assert.ok(!ofB.lines.some((entry) => entry.line.includes('secret of a')), 'nothing of a in b');
      } finally {
        await Promise.allSettled([a.close(), b.close()]);
      }
    });
  }

  test('a flood keeps only the newest lines within the bound, and says how many it dropped', async () => {
    const s = await connectSession(node.url, 'logs-stdio', randomUUID());
    try {
      await s.call('write_stderr', { text: 'flood line', times: 5000 });
      // The answer can overtake the output on its way out of the sandbox.
      await waitFor(async () => (await logs(s.sessionId)).lines.at(-1)?.line === 'flood line 4999', 'the last line to arrive');
      const kept = await logs(s.sessionId);
      assert.ok(kept.dropped > 4000, `dropped ${kept.dropped}`);
      assert.ok(kept.lines.reduce((sum, entry) => sum + entry.line.length, 0) <= 4096);
      assert.deepEqual(
        (await logs(s.sessionId, '?tail=2')).lines.map((entry) => entry.line),
        ['flood line 4998', 'flood line 4999'],
      );
      assert.equal((await node.admin(`/v1/sessions/${s.sessionId}/logs?tail=x`)).status, 400);
      assert.ok(((await s.call('increment')) as { count: number }).count === 1, 'the session goes on');
    } finally {
      await s.close();
    }
  });

  test('an ended session keeps its logs, and berth logs prints them', async () => {
    const s = await connectSession(node.url, 'logs-stdio', randomUUID());
    await s.call('write_stderr', { text: 'last words' });
    await waitFor(async () => (await logs(s.sessionId)).lines.some((entry) => entry.line === 'last words'), 'the line to arrive');
    await s.close();
    assert.equal((await node.admin(`/v1/sessions/${s.sessionId}`, { method: 'DELETE' })).status, 200);
    const kept = await logs(s.sessionId);
    assert.equal(kept.live, false);
    assert.ok(kept.lines.some((entry) => entry.line === 'last words'));
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [BIN, 'logs', s.sessionId, '--url', node.url],
        { env: { PATH: process.env.PATH, BERTH_HOME: node.home } },
        (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stdout)),
      ),
    );
    assert.match(out, /^\d{4}-\d\d-\d\dT[\d:.]+Z last words$/m);
    assert.match(out, /\(the session has ended\)\n$/);
    assert.equal((await node.admin(`/v1/sessions/${randomUUID()}/logs`)).status, 404);
  });
});
