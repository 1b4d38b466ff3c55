import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { postgresUnsupportedReason, startPostgres, type Postgres } from '../../test/helpers/postgres.ts';
import { createLogger } from '../observability/logger.ts';
import type { ClusterRecords } from '../store/cluster-records.ts';
import { openStore } from '../store/open-store.ts';
import type { SessionDirectoryRecords } from '../store/session-directory.ts';
import { Membership } from './membership.ts';
import { SessionOwners } from './session-owners.ts';

const QUIET = createLogger({ level: 'error', format: 'text', write: () => {} });
const COUNTER = { runtime: 'counter', version: 1, principal: 'anonymous' };
const S = (n: number): string => `session-${n}-0123456789abcdef0123456789abcdef`;

describe('where a session is served, by the directory', { skip: postgresUnsupportedReason() ?? false }, () => {
  let server: Postgres;
  before(async () => {
    server = await startPostgres();
  });
  after(() => server.stop());

  async function node(t: { after: (fn: () => unknown) => void }, url: string, live: Set<string>, store?: string) {
    const location = store ?? (await server.database());
    const opened = await openStore({ postgresql: location });
    const membership = new Membership({
      records: opened.cluster as ClusterRecords,
      url,
      capacity: 10,
      load: () => ({ state: 'live', sessions: 0 }),
      logger: QUIET,
    });
    await membership.start();
    const owners = new SessionOwners({
      directory: opened.directory as SessionDirectoryRecords,
      membership,
      logger: QUIET,
      isLive: (id) => live.has(id),
      unusedClaimMs: 200,
    });
    t.after(async () => {
      await owners.close();
      await membership.leave();
      await opened.store.close();
    });
    return { owners, id: membership.id, directory: opened.directory as SessionDirectoryRecords, store: location };
  }

  test("a session nobody holds is this node's; one another live node holds is served there; nothing is asked again for it", async (t) => {
    const a = await node(t, 'http://a', new Set());
    const b = await node(t, 'http://b', new Set(), a.store);
    assert.deepEqual(await a.owners.placeOf(S(1), COUNTER), { here: true });
    assert.deepEqual(await b.owners.placeOf(S(1), COUNTER), { here: false, url: 'http://a', epoch: 1, owner: a.id });
    // Remembered: the directory is not asked again, even once the entry changes under it.
    await a.directory.release(S(1), (await a.directory.lookup(S(1)))!.owner, 1);
    assert.deepEqual(await b.owners.placeOf(S(1), COUNTER), { here: false, url: 'http://a', epoch: 1, owner: a.id });
    b.owners.forget(S(1));
    assert.deepEqual(await b.owners.placeOf(S(1), COUNTER), { here: true }, 'forgotten, it is looked up, found free, and claimed');
  });

  test('a claim with no sandbox behind it (its request failed first) is released after a while; a live one is kept', async (t) => {
    const live = new Set([S(2)]);
    const a = await node(t, 'http://a', live);
    await a.owners.placeOf(S(2), COUNTER);
    await a.owners.placeOf(S(3), COUNTER);
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.ok(await a.directory.lookup(S(2)), 'the session with a sandbox stays claimed');
    assert.equal(await a.directory.lookup(S(3)), undefined, 'the unused claim is gone');
    assert.equal(a.owners.heldEpoch(S(3)), undefined);
  });
});
