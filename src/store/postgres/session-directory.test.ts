import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { postgresUnsupportedReason, startPostgres, type Postgres } from '../../../test/helpers/postgres.ts';
import type { ClusterRecords } from '../cluster-records.ts';
import { openStore } from '../open-store.ts';
import type { DirectoryEntry, SessionDirectoryRecords } from '../session-directory.ts';

const S = 'session-0123456789abcdef0123456789abcdef';

const COUNTER = { runtime: 'counter', version: 3, principal: 'alice' };

describe("the session directory's rules, on a real PostgreSQL", { skip: postgresUnsupportedReason() ?? false }, () => {
  let server: Postgres;
  before(async () => {
    server = await startPostgres();
  });
  after(() => server.stop());

  /** A fresh cluster store, and nodes `a` and `b` in it (a with a lease of `leaseMs`). */
  async function cluster(t: { after: (fn: () => unknown) => void }, leaseMs = 10_000): Promise<{ nodes: ClusterRecords; directory: SessionDirectoryRecords }> {
    const opened = await openStore({ postgresql: await server.database() });
    t.after(() => opened.store.close());
    const nodes = opened.cluster as ClusterRecords;
    await nodes.join({ id: 'node_a', url: 'http://a', capacity: 10 }, leaseMs);
    await nodes.join({ id: 'node_b', url: 'http://b', capacity: 10 }, 10_000);
    return { nodes, directory: opened.directory as SessionDirectoryRecords };
  }

  test('of nodes racing to create one session, one wins at epoch 1 and every other learns the winner', async (t) => {
    const { directory } = await cluster(t);
    const ids = ['node_a', 'node_b', 'node_c', 'node_d', 'node_e'];
    const entries = await Promise.all(Array.from({ length: 20 }, (_, i) => directory.claim(S, COUNTER, ids[i % ids.length] as string)));
    const owners = new Set(entries.map((entry) => entry.owner));
    assert.equal(owners.size, 1, 'one owner');
    assert.ok(entries.every((entry) => entry.epoch === 1 && entry.session === S && entry.runtime === 'counter'));
    assert.deepEqual(await directory.lookup(S), entries[0]);
  });

  test("an entry names its owner's URL while the owner is a live member", async (t) => {
    const { directory } = await cluster(t);
    const claimed = await directory.claim(S, COUNTER, 'node_a');
    assert.deepEqual(claimed, {
      session: S,
      runtime: 'counter',
      owner: 'node_a',
      epoch: 1,
      ownerUrl: 'http://a',
      ownerLive: true,
      version: 3,
      principal: 'alice',
    });
    assert.equal(await directory.lookup('no-such-session-0000000000000000000'), undefined);
    assert.deepEqual(
      (await directory.owned('node_a')).map((entry) => entry.session),
      [S],
    );
  });

  test('a live owner keeps its session; once its lease runs out one node takes it over, one epoch on, and the dead owner is fenced', async (t) => {
    const { nodes, directory } = await cluster(t, 300);
    const seen = await directory.claim(S, COUNTER, 'node_a');
    assert.deepEqual(await directory.takeOver(S, seen, 'node_b'), { taken: false }, 'not while its lease runs');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const dead = await directory.lookup(S);
    assert.equal(dead?.ownerLive, false);
    // Two nodes race to take it over: one does.
    await nodes.join({ id: 'node_c', url: 'http://c', capacity: 10 }, 10_000);
    assert.deepEqual([dead?.version, dead?.principal], [3, 'alice'], 'the entry says what the lost node held');
    const next = { runtime: 'counter', version: 4, principal: 'bob' };
    const results = await Promise.all([directory.takeOver(S, dead!, 'node_b', next), directory.takeOver(S, dead!, 'node_c', next)]);
    const won = results.filter((result) => result.taken);
    assert.equal(won.length, 1, 'one takeover');
    const entry = (won[0] as { entry: DirectoryEntry }).entry;
    assert.equal(entry.epoch, 2);
    assert.equal(entry.ownerLive, true);
    assert.deepEqual(await directory.lookup(S), { ...entry, version: 4, principal: 'bob' }, 'and what the new one holds');
    assert.equal(await nodes.renew('node_a', 10_000, { state: 'live', sessions: 1 }), false, 'the dead owner learns at its next renewal that it was replaced');
    assert.deepEqual(await directory.takeOver(S, dead!, 'node_b'), { taken: false }, 'a takeover from what was seen before is refused');
  });

  test('only the holding that ended releases a session; an older epoch releases nothing', async (t) => {
    const { directory } = await cluster(t);
    const held = await directory.claim(S, COUNTER, 'node_a');
    assert.equal(await directory.release(S, 'node_b', held.epoch), false, 'not by another node');
    assert.equal(await directory.release(S, 'node_a', held.epoch + 1), false, 'not by another epoch');
    assert.equal(await directory.release(S, 'node_a', held.epoch), true);
    assert.equal(await directory.lookup(S), undefined);
    assert.equal((await directory.claim(S, COUNTER, 'node_b')).owner, 'node_b', 'the id is free for a new session');
  });
});
