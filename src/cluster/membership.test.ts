import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { postgresUnsupportedReason, startPostgres, type Postgres } from '../../test/helpers/postgres.ts';
import { createLogger } from '../observability/logger.ts';
import type { ClusterRecords } from '../store/cluster-records.ts';
import { openStore } from '../store/open-store.ts';
import { Membership, type MembershipOptions } from './membership.ts';

/** Blocks this process for `ms`, as SIGSTOP would: no timer runs meanwhile. */
function freeze(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('a node keeps its lease in the cluster store', { skip: postgresUnsupportedReason() ?? false }, () => {
  let server: Postgres;
  before(async () => {
    server = await startPostgres();
  });
  after(() => server.stop());

  async function cluster(t: { after: (fn: () => unknown) => void }): Promise<ClusterRecords> {
    const { store, cluster } = await openStore({ postgresql: await server.database() }, { connectTimeoutMs: 1_000 });
    t.after(() => store.close());
    return cluster as ClusterRecords;
  }

  function member(records: ClusterRecords, lines: string[], options: Partial<MembershipOptions> = {}): Membership {
    return new Membership({
      records,
      url: 'http://127.0.0.1:1',
      capacity: 10,
      load: () => ({ state: 'live', sessions: 3 }),
      logger: createLogger({ level: 'info', format: 'text', write: (line) => lines.push(line) }),
      ...options,
    });
  }

  test('a member is listed with its lease and load, renews it, and is gone once it leaves', async (t) => {
    const records = await cluster(t);
    const node = member(records, [], { leaseMs: 2_000, renewMs: 100 });
    await node.start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const [listed] = await records.nodes();
    assert.equal(listed?.id, node.id);
    assert.equal(listed?.leaseRunning, true);
    assert.equal(listed?.sessions, 3, 'renewals carry the load');
    assert.ok(node.holdsLease);
    await node.leave();
    assert.deepEqual(await records.nodes(), []);
  });

  test('a node taken for dead hears so at its next renewal, gives up what it owned, and joins again as a new member', async (t) => {
    const records = await cluster(t);
    const expelled: string[] = [];
    const node = member(records, [], { renewMs: 50, onExpelled: (why) => expelled.push(why) });
    await node.start();
    t.after(() => node.leave());
    const first = node.id;
    // What another node does to one whose lease ran out.
    await records.leave(first);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(expelled.length, 1);
    assert.match(expelled[0] as string, /took this node for dead/);
    assert.notEqual(node.id, first);
    assert.deepEqual(
      (await records.nodes()).map((n) => n.id),
      [node.id],
    );
  });

  test('a node frozen past its lease knows it, and asks again before serving', async (t) => {
    const records = await cluster(t);
    const node = member(records, [], { leaseMs: 300, renewMs: 100 });
    await node.start();
    t.after(() => node.leave());
    freeze(400);
    assert.equal(node.holdsLease, false, 'by its own clock, the lease it was granted has run out');
    await node.confirm();
    assert.equal(node.holdsLease, true, 'renewed: nobody had taken it for dead meanwhile');
  });

  test('while the store is away the node keeps serving, warns once, and renews when it is back', async (t) => {
    const records = await cluster(t);
    const lines: string[] = [];
    const node = member(records, lines, { leaseMs: 5_000, renewMs: 50 });
    await node.start();
    t.after(() => node.leave());
    await server.crash();
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.equal(node.storeAway, true);
      assert.equal(lines.filter((line) => /the cluster store does not answer/.test(line)).length, 1, lines.join('\n'));
      await node.confirm();
    } finally {
      await server.restart();
    }
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal(node.storeAway, false);
    assert.ok(lines.some((line) => /answers again/.test(line)));
    assert.equal((await records.nodes())[0]?.leaseRunning, true);
  });
});
