/**
 * Sandboxes nobody returns to are reclaimed (issue 14): a session berth made for a request that named no session
 * ends after the node's short grace (BERTH_UNCLAIMED_TIMEOUT) unless a second request comes back to it, and its
 * ended record says so; a session a client came back to, or named itself, keeps its idle timeout.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { rawCall, toolText } from '../helpers/mcp.ts';
import { waitFor } from '../helpers/wait.ts';

interface SessionView {
  state: string;
  reason?: string;
  unclaimed?: boolean;
}

describe('sessions nobody comes back to', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  before(async () => {
    node = await startBerth({ env: { BERTH_UNCLAIMED_TIMEOUT: '2' } });
    await deploy(node, 'counter', await fixtureDir('counter-server'), { transport: 'stdio' });
    await deploy(node, 'agent', await fixtureDir('http-agent'), { protocol: 'http', transport: 'http', port: 8080 });
  });
  after(async () => {
    await node?.stop();
  });

  const view = async (id: string): Promise<SessionView> => (await (await node.admin(`/v1/sessions/${id}`)).json()) as SessionView;
  const count = async (sessionId?: string): Promise<{ session: string; count: number }> => {
    const answer = await rawCall(node.url, 'counter', 'tools/call', 'increment', {}, sessionId === undefined ? {} : { sessionId });
    return { session: answer.headers.get(SESSION_HEADER) as string, count: (toolText(answer) as { count: number }).count };
  };

  test('a session made for a request that named none ends after the grace, and says why', async () => {
    const { session } = await count();
    assert.equal((await view(session)).unclaimed, true);
    await waitFor(async () => (await view(session)).state === 'ended', 'the unclaimed session to end', 15_000);
    assert.equal((await view(session)).reason, 'unclaimed');
  });

  test('a session the client came back to, or named itself, outlives the grace', async () => {
    const first = await count();
    assert.deepEqual(await count(first.session), { session: first.session, count: 2 });
    assert.equal((await view(first.session)).unclaimed, false);
    const named = randomUUID();
    await count(named);
    assert.equal((await view(named)).unclaimed, false);
    await new Promise((resolve) => setTimeout(resolve, 3500));
    assert.equal((await view(first.session)).state, 'ready');
    assert.equal((await view(named)).state, 'ready');
    assert.deepEqual(await count(first.session), { session: first.session, count: 3 });
  });

  test('N requests that name no session leave no sandbox behind once the grace is over', async () => {
    const made = await Promise.all([0, 1, 2, 3, 4].map(() => count()));
    assert.equal(new Set(made.map(({ session }) => session)).size, 5);
    await waitFor(
      async () => (await Promise.all(made.map(({ session }) => view(session)))).every((seen) => seen.state === 'ended'),
      'every unclaimed session to end',
      15_000,
    );
  });

  test('an http agent invoked without a session id: the same grace', async () => {
    const answer = await fetch(`${node.url}/runtimes/agent/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'increment' }),
    });
    assert.equal(answer.status, 200);
    await answer.body?.cancel();
    const session = answer.headers.get(SESSION_HEADER) as string;
    await waitFor(async () => (await view(session)).state === 'ended', 'the unclaimed agent session to end', 15_000);
    assert.equal((await view(session)).reason, 'unclaimed');
  });
});
