/**
 * A cluster's nodes as they come and go, on a real PostgreSQL: a full node places new sessions on the member with
 * room; a node told to stop (SIGTERM) drains, its new sessions placed elsewhere, then leaves; a node frozen past its
 * lease (SIGSTOP) comes back fenced, never serving its old sessions; PostgreSQL restarted under load costs live
 * sessions nothing and new ones a clear 503 until it is back; two nodes racing on one new session end with one
 * sandbox.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as LegacyTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import type { BerthNode } from '../helpers/berth.ts';
import { startCluster, type Cluster } from '../helpers/cluster.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { rawCall, toolText, type RawAnswer } from '../helpers/mcp.ts';
import { postgresUnsupportedReason, startPostgres, type Postgres } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';

const skip = BwrapDriver.unsupportedReason() ?? postgresUnsupportedReason() ?? false;

/** Where `session` is held, as `node` answers. */
async function holderOf(node: BerthNode, session: string): Promise<string | undefined> {
  const view = (await (await node.admin(`/v1/sessions/${session}`)).json()) as { node?: string; state?: string };
  return view.state === 'ended' ? undefined : view.node;
}

const increment = (node: BerthNode, session: string): Promise<RawAnswer> => rawCall(node.url, 'counter', 'tools/call', 'increment', {}, { sessionId: session });

async function count(node: BerthNode, session: string): Promise<number> {
  const answer = await increment(node, session);
  assert.equal(answer.status, 200, JSON.stringify(answer.response));
  return (toolText(answer) as { count: number }).count;
}

describe("a cluster's nodes as they come and go", { skip }, () => {
  let postgres: Postgres;
  const clusters: Cluster[] = [];
  before(async () => {
    postgres = await startPostgres();
  });
  after(async () => {
    await Promise.all(clusters.map((cluster) => cluster.stop()));
    await postgres?.stop();
  });

  /** Two nodes running the counter, with `env`. */
  async function pair(env: Record<string, string> = {}): Promise<[BerthNode, BerthNode, Cluster]> {
    const cluster = await startCluster(postgres, 2, env);
    clusters.push(cluster);
    const artifactId = await cluster.upload(await fixtureDir('counter-server'));
    await cluster.nodes[0]?.api.deploy('counter', { artifactId, command: 'node server.js stdio', transport: 'stdio', env: {} });
    return [cluster.nodes[0] as BerthNode, cluster.nodes[1] as BerthNode, cluster];
  }

  test('a full node places new sessions on the member with room, named or not; with room nowhere, the start is refused', async () => {
    const [a, b] = await pair({ BERTH_MAX_SESSIONS: '2' });
    const [s1, s2, s3, s4] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    assert.equal(await count(a, s1), 1);
    assert.equal(await count(a, s2), 1);
    assert.equal(await holderOf(a, s2), a.url, 'the receiving node while it has room');
    assert.equal(await count(a, s3), 1);
    assert.equal(await holderOf(a, s3), b.url, 'placed on the member with room');
    assert.equal(await count(a, s3), 2, 'and followed there');
    // A legacy client names no session at first: its initialize is passed on whole, and its session lives on b.
    await waitFor(
      async () =>
        ((await (await a.admin('/v1/nodes')).json()) as { nodes: Array<{ url: string; sessions: number }> }).nodes.some(
          (n) => n.url === b.url && n.sessions === 1,
        ),
      "b's load in the store",
    );
    const legacy = new LegacyClient({ name: 'legacy-client', version: '1.0.0' });
    const transport = new LegacyTransport(new URL(`${a.url}/runtimes/counter/mcp`));
    await legacy.connect(transport);
    try {
      const result = await legacy.callTool({ name: 'increment', arguments: {} });
      assert.equal((result.content as Array<{ text: string }>)[0]?.text, '{"count":1}');
      assert.equal(await holderOf(a, (transport.sessionId ?? '').split('.')[0] as string), b.url);
    } finally {
      await legacy.close();
    }
    const refused = await increment(a, s4);
    assert.notEqual(refused.status, 200, 'both nodes are full');
    assert.match(String(refused.response.error?.message), /session|capacity|full|limit/i);
  });

  test('SIGTERM drains a node: its work finishes, its new sessions go to another member, then it leaves and its sessions start afresh elsewhere at once', async () => {
    const [a, b] = await pair({ BERTH_SHUTDOWN_GRACE_SECONDS: '20' });
    const kept = randomUUID();
    assert.equal(await count(a, kept), 1);
    assert.equal(await holderOf(b, kept), a.url);
    const slow = rawCall(a.url, 'counter', 'tools/call', 'slow', { steps: 10, delayMs: 200 }, { sessionId: kept });
    await new Promise((resolve) => setTimeout(resolve, 300));
    a.process.kill('SIGTERM');
    await waitFor(async () => (await fetch(`${a.url}/healthz`)).status === 503, 'the node to say it drains');
    const fresh = randomUUID();
    assert.equal(await count(a, fresh), 1, 'a new session through the draining node is served');
    assert.equal(await holderOf(b, fresh), b.url, 'by another member');
    assert.equal((await slow).status, 200, 'the call under way finished');
    await new Promise<void>((resolve) => (a.process.exitCode !== null ? resolve() : a.process.once('exit', () => resolve())));
    const nodes = ((await (await b.admin('/v1/nodes')).json()) as { nodes: Array<{ url: string }> }).nodes;
    assert.deepEqual(
      nodes.map((n) => n.url),
      [b.url],
      'it left the cluster',
    );
    const started = Date.now();
    assert.equal(await count(b, kept), 1, 'its session starts afresh on a live node');
    assert.ok(Date.now() - started < 5_000, 'at once: a node that left holds no lease to wait out');
  });

  test('a node frozen past its lease (SIGSTOP) comes back fenced: its old session is served by the node that took it over, never by its old sandbox', async () => {
    const [a, b] = await pair();
    const session = randomUUID();
    for (let i = 1; i <= 3; i++) assert.equal(await count(a, session), i);
    a.process.kill('SIGSTOP');
    try {
      let taken: number | undefined;
      const frozenAt = Date.now();
      while (taken === undefined && Date.now() - frozenAt < 25_000) {
        const answer = await increment(b, session);
        if (answer.status === 200) taken = (toolText(answer) as { count: number }).count;
        else await new Promise((resolve) => setTimeout(resolve, 500));
      }
      assert.equal(taken, 1, 'taken over by b with a fresh sandbox once the lease ran out');
      assert.equal(await count(b, session), 2);
    } finally {
      a.process.kill('SIGCONT');
    }
    // Back, the old holder learns it was replaced before it serves anything it held.
    assert.equal(await count(a, session), 3, 'a passes the session on to b; its own sandbox (count 4) is never used again');
    await waitFor(async () => {
      const nodes = ((await (await b.admin('/v1/nodes')).json()) as { nodes: Array<{ url: string; live: boolean }> }).nodes;
      return nodes.filter((n) => n.live).length === 2;
    }, 'a to rejoin as a new member');
    assert.equal(await count(a, session), 4);
    assert.equal(await holderOf(a, session), b.url);
  });

  test('PostgreSQL restarted under load: live sessions keep being served, new sessions and control-plane writes get 503, and all recovers', async () => {
    const [a, b, cluster] = await pair();
    const sessions: string[] = [randomUUID(), randomUUID()];
    // Each session held by one node and already seen by the other, so both know where it is.
    for (const session of sessions) for (const node of [a, b, a]) await count(node, session);
    const counts = new Map<string, number>(sessions.map((session) => [session, 3]));
    let stop = false;
    const failures: string[] = [];
    const load = (async () => {
      let i = 0;
      while (!stop) {
        const session = sessions[i % 2] as string;
        const node = i++ % 3 === 0 ? b : a;
        const answer = await increment(node, session);
        if (answer.status !== 200) failures.push(`${answer.status} ${JSON.stringify(answer.response.error)}`);
        else {
          const next = (counts.get(session) ?? 0) + 1;
          if ((toolText(answer) as { count: number }).count !== next) failures.push(`count ${JSON.stringify(toolText(answer))} where ${next} was due`);
          counts.set(session, next);
        }
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await postgres.crash();
    try {
      const unplaced = await increment(a, randomUUID());
      assert.equal(unplaced.status, 503, JSON.stringify(unplaced.response));
      assert.equal(unplaced.response.error?.data?.code, 'store_unavailable');
      const write = await a.admin('/v1/runtimes/counter/endpoints/pinned', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ version: 1 }),
      });
      assert.equal(write.status, 503);
      assert.equal(((await write.json()) as { error: { code: string } }).error.code, 'store_unavailable');
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    } finally {
      await postgres.restart();
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    stop = true;
    await load;
    assert.deepEqual(failures, [], 'no live session missed a call while the store was away');
    assert.ok((counts.get(sessions[0] as string) ?? 0) > 5, 'calls went on meanwhile');
    await waitFor(async () => (await increment(b, randomUUID())).status === 200, 'new sessions once the store is back', 15_000);
    assert.ok(
      cluster.nodes.every((node) => node.process.exitCode === null),
      'no node stopped',
    );
  });

  test('two nodes racing to create one session end with one sandbox', async () => {
    const [a, b] = await pair();
    for (let round = 0; round < 3; round++) {
      const session = randomUUID();
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => increment(i % 2 === 0 ? a : b, session)));
      for (const answer of answers) assert.equal(answer.status, 200, JSON.stringify(answer.response));
      const counts = answers.map((answer) => (toolText(answer) as { count: number }).count).sort((x, y) => x - y);
      assert.deepEqual(counts, [1, 2, 3, 4, 5, 6, 7, 8], 'every request was counted by one sandbox');
    }
  });

  test('PostgreSQL away for longer than a lease: when it is back, no live node is taken for dead, and every session keeps its state', async () => {
    const [a, b] = await pair();
    const onA = randomUUID();
    const onB = randomUUID();
    assert.equal(await count(a, onA), 1);
    assert.equal(await count(b, onB), 1);
    await postgres.crash();
    try {
      // Every lease runs out by the store's clock meanwhile; the sessions are served from what the nodes know.
      await new Promise((resolve) => setTimeout(resolve, 12_000));
      try {
        assert.equal(await count(a, onA), 2);
        assert.equal(await count(b, onB), 2);
      } catch (error) {
        // This has failed now and then under a full run's load, and never alone: the nodes' own account says why.
        process.stderr.write(`--- node a's log\n${a.logs().slice(-8000)}\n--- node b's log\n${b.logs().slice(-8000)}\n`);
        throw error;
      }
    } finally {
      await postgres.restart();
    }
    // Asked through the other node as soon as the store is back (before its holder has renewed, perhaps): passed on,
    // never taken over with a fresh sandbox.
    const counts: number[] = [];
    for (let i = 0; i < 10; i++) {
      const answer = await increment(i % 2 === 0 ? b : a, i % 2 === 0 ? onA : onB);
      if (answer.status === 200) counts.push((toolText(answer) as { count: number }).count);
      else await new Promise((resolve) => setTimeout(resolve, 300));
    }
    assert.ok(
      counts.every((n) => n >= 3),
      `no session started afresh: ${counts.join(', ')}`,
    );
    await waitFor(async () => (await count(b, onA)) > 3 && (await count(a, onB)) > 3, 'both sessions through either node');
    assert.deepEqual([await holderOf(b, onA), await holderOf(a, onB)], [a.url, b.url], 'each still held where it was');
  });

  test('a full node still serves the input_required retries of the sessions it holds (their requestState names them)', async () => {
    const [a, , cluster] = await pair({ BERTH_MAX_SESSIONS: '1' });
    const artifactId = await cluster.upload(await fixtureDir('legacy-counter-server'));
    await a.api.deploy('legacy', { artifactId, command: 'node server.js http', transport: 'http', env: {} });
    const session = randomUUID();
    const ELICIT = { elicitation: { form: {} } };
    const first = await rawCall(a.url, 'legacy', 'tools/call', 'ask_twice', {}, { sessionId: session, capabilities: ELICIT });
    assert.equal(first.response.result?.resultType, 'input_required', JSON.stringify(first.response));
    const [key] = Object.keys(first.response.result?.inputRequests as object);
    // a now holds its one session: it has no room, and the retry names no session in its head.
    const retry = await rawCall(
      a.url,
      'legacy',
      'tools/call',
      'ask_twice',
      {},
      {
        capabilities: ELICIT,
        params: { inputResponses: { [key as string]: { action: 'accept', content: { a: 'one' } } }, requestState: first.response.result?.requestState },
      },
    );
    assert.equal(retry.status, 200, JSON.stringify(retry.response));
    assert.equal(retry.response.result?.resultType, 'input_required', JSON.stringify(retry.response));
    assert.equal(await holderOf(a, session), a.url);
  });
});
