/**
 * Graceful shutdown of a real berth node on the bwrap driver. SIGTERM drains: no new session starts (503 `draining`
 * in JSON-RPC, with Retry-After), /healthz says so, live sessions go on answering and calls in flight finish; then
 * the node ends its sandboxes and exits 0. A call that outlives BERTH_SHUTDOWN_GRACE_SECONDS is cut off, and the
 * node exits all the same. SIGINT, or a second SIGTERM, stops at once.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { rawCall, toolText, type RawAnswer } from '../helpers/mcp.ts';
import { waitFor } from '../helpers/wait.ts';

interface Node extends BerthNode {
  /** When the process exited, and with what code. */
  exit: Promise<{ code: number | null; at: number }>;
}

async function startCounter(graceSeconds: number): Promise<Node> {
  const node = await startBerth({ env: { BERTH_SHUTDOWN_GRACE_SECONDS: String(graceSeconds) } });
  const exit = new Promise<{ code: number | null; at: number }>((resolve) => node.process.once('exit', (code) => resolve({ code, at: Date.now() })));
  await deploy(node, 'counter', await fixtureDir('counter-server'));
  return { ...node, exit };
}

function call(node: Node, sessionId: string, name: string, args: Record<string, unknown> = {}): Promise<RawAnswer> {
  return rawCall(node.url, 'counter', 'tools/call', name, args, { sessionId });
}

/** Starts a call, and resolves once berth counts it in flight (wrapped: an async function would wait for the answer). */
async function callInFlight(node: Node, sessionId: string, name: string, args: Record<string, unknown>): Promise<{ answer: Promise<RawAnswer> }> {
  const answer = call(node, sessionId, name, args);
  await waitFor(
    async () => (await node.api.sessions('counter')).some((session) => session.id === sessionId && (session.inFlight ?? 0) > 0),
    'the call in flight',
    20_000,
  );
  return { answer };
}

async function sandboxesOf(node: Node): Promise<string[]> {
  return (await node.api.sessions('counter')).map((session) => session.sandboxId);
}

/** Host processes whose cgroup names one of the sandboxes: what a node that ended its sandboxes leaves none of. */
function processesOf(sandboxIds: readonly string[]): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cgroup = readFileSync(`/proc/${entry}/cgroup`, 'utf8');
      if (sandboxIds.some((id) => cgroup.includes(`/${id}`))) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** What became of a call the node cut short: its error code, or how the connection went (read at once, so it never rejects unheard). */
async function cutShort(answer: Promise<RawAnswer>): Promise<string> {
  return answer.then(
    (done) => (done.response.result ? `answered ${JSON.stringify(toolText(done))}` : String(done.response.error?.data?.code ?? done.status)),
    () => 'connection cut',
  );
}

async function healthz(node: Node): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${node.url}/healthz`);
  return { status: response.status, body: await response.json() };
}

describe('graceful shutdown', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  test('SIGTERM drains: no new sessions, live ones answer, the call in flight finishes, then the node exits 0 with its sandboxes gone', async () => {
    const node = await startCounter(60);
    try {
      const busy = randomUUID();
      const other = randomUUID();
      assert.deepEqual(toolText(await call(node, other, 'increment')), { count: 1 });
      assert.deepEqual(toolText(await call(node, busy, 'increment')), { count: 1 });
      const { answer: gated } = await callInFlight(node, busy, 'gate_wait', { gate: 'g' });
      const sandboxes = await sandboxesOf(node);
      assert.equal(sandboxes.length, 2);

      node.process.kill('SIGTERM');
      await waitFor(async () => (await healthz(node)).status === 503, '/healthz to say draining');
      assert.deepEqual((await healthz(node)).body, { ok: false, draining: true, sessions: 2 });

      const refused = await call(node, randomUUID(), 'increment');
      assert.equal(refused.status, 503);
      assert.equal(refused.response.error?.code, -32005);
      assert.equal(refused.response.error?.data?.code, 'draining');
      assert.match(refused.response.error?.message ?? '', /shutting down and starts no new sessions; retry/);
      assert.ok(Number(refused.headers.get('retry-after')) > 0, 'Retry-After says when to retry');
      assert.deepEqual(await sandboxesOf(node), sandboxes, 'the refused request started no sandbox');

      assert.deepEqual(toolText(await call(node, other, 'increment')), { count: 2 }, 'a live session answers while the node drains');
      assert.equal(node.process.exitCode, null, 'the node waits for the call in flight');
      assert.deepEqual(toolText(await call(node, busy, 'gate_open', { gate: 'g' })), { gate: 'g', opened: true });
      const answered = await gated;
      const answeredAt = Date.now();
      assert.deepEqual(toolText(answered), { gate: 'g', passed: true }, 'the call in flight finishes');

      const exit = await node.exit;
      assert.equal(exit.code, 0);
      assert.ok(exit.at >= answeredAt - 50, 'the node exits only after the call in flight answered');
      assert.deepEqual(processesOf(sandboxes), [], 'no process of its sandboxes is left');
      assert.match(node.logs(), /berth drained/);
      assert.match(node.logs(), /session ended.*shutdown/);
    } finally {
      await node.stop();
    }
  });

  test('a call that outlives the shutdown grace is cut off, and the node still exits 0', async () => {
    const node = await startCounter(1);
    try {
      const session = randomUUID();
      const waiting = cutShort((await callInFlight(node, session, 'wait', { ms: 300_000 })).answer);
      const sandboxes = await sandboxesOf(node);
      const signalled = Date.now();
      node.process.kill('SIGTERM');
      const exit = await node.exit;
      assert.equal(exit.code, 0);
      assert.ok(exit.at - signalled >= 1000, 'the call had its grace');
      assert.ok(exit.at - signalled < 20_000, 'and no more');
      assert.doesNotMatch(await waiting, /^answered/);
      assert.deepEqual(processesOf(sandboxes), []);
      assert.match(node.logs(), /shutdown grace ran out with work under way/);
    } finally {
      await node.stop();
    }
  });

  for (const signals of [['SIGINT'], ['SIGTERM', 'SIGTERM']] as const) {
    test(`${signals.join(' then ')} stops at once, whatever is in flight`, async () => {
      const node = await startCounter(600);
      try {
        const waiting = cutShort((await callInFlight(node, randomUUID(), 'wait', { ms: 300_000 })).answer);
        const sandboxes = await sandboxesOf(node);
        if (signals.length === 2) {
          node.process.kill('SIGTERM');
          await waitFor(async () => (await healthz(node)).status === 503, 'the node to drain');
        }
        const signalled = Date.now();
        node.process.kill(signals.at(-1));
        const exit = await node.exit;
        assert.equal(exit.code, 0);
        assert.ok(exit.at - signalled < 20_000, 'the node did not wait for the grace');
        assert.doesNotMatch(await waiting, /^answered/);
        assert.deepEqual(processesOf(sandboxes), []);
      } finally {
        await node.stop();
      }
    });
  }
});
