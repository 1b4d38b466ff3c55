/**
 * berth on PostgreSQL (`--store`): real nodes on one real PostgreSQL keep one control plane. A runtime deployed
 * through one node is served by another, keys made on one open the other, and records outlive every node. A store
 * that is wrong or away stops a node at start with the reason.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { postgresUnsupportedReason, startPostgres, type Postgres } from '../helpers/postgres.ts';
import { rawCall } from '../helpers/mcp.ts';

const skip = BwrapDriver.unsupportedReason() ?? postgresUnsupportedReason() ?? false;

describe('berth nodes on one PostgreSQL store', { skip }, () => {
  let server: Postgres;
  const nodes: BerthNode[] = [];
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    await server.stop();
  });

  test('a bad store URL, or a store that does not answer, stops berth at start and says why', async () => {
    await assert.rejects(startBerth({ env: { BERTH_STORE_URL: 'mysql://db/berth' } }), /BERTH_STORE_URL must be a PostgreSQL URL/);
    await assert.rejects(startBerth({ env: { BERTH_STORE_URL: `postgresql://berth:not-shown@127.0.0.1:${server.port + 1}/berth` } }), (error: Error) => {
      assert.match(error.message, /berth cannot use the store at postgresql:\/\/berth@127\.0\.0\.1:\d+\/berth/);
      assert.doesNotMatch(error.message, /not-shown/);
      return true;
    });
  });

  test('nodes share one control plane and its keys, at once, and the records outlive them', async () => {
    const url = await server.database();
    const latest = async (node: BerthNode): Promise<number> =>
      ((await (await node.admin('/v1/runtimes/counter')).json()) as { latestVersion: number }).latestVersion;
    // The first node makes the schema and the first admin key; the second joins and makes neither. (Migrations
    // racing between nodes that start together are the store's own test.)
    const first = await startBerth({ env: { BERTH_STORE_URL: url } });
    nodes.push(first);
    const second = await startBerth({ env: { BERTH_STORE_URL: url }, adminKey: first.adminKey });
    assert.match(second.logs(), /the store already holds a live admin key/);
    nodes.push(second);
    const counter = await fixtureDir('counter-server');
    // Until artifacts travel between nodes (content-addressed, next), each node is given the code it runs.
    await deploy(first, 'counter', counter);
    assert.equal(await latest(second), 1, "the second node sees the first node's deploy at once");
    await deploy(second, 'counter', counter);
    assert.equal(await latest(first), 2, 'one numbering of versions across nodes');

    const made = await first.admin('/v1/keys', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ admin: true, description: 'made on the first node' }),
    });
    assert.equal(made.status, 201);
    const { key } = (await made.json()) as { key: string };
    assert.equal(
      (await fetch(`${second.url}/v1/runtimes`, { headers: { authorization: `Bearer ${key}` } })).status,
      200,
      'a key made on one node opens every node',
    );
    const revoked = await second.admin(`/v1/keys/${key.split('_')[1]}`, { method: 'DELETE' });
    assert.equal(revoked.status, 200);
    assert.equal(
      (await fetch(`${first.url}/v1/runtimes`, { headers: { authorization: `Bearer ${key}` } })).status,
      401,
      'revoked on one node, refused on every node',
    );

    const answer = await rawCall(second.url, 'counter', 'tools/call', 'increment', {}, { sessionId: crypto.randomUUID() });
    assert.equal(answer.status, 200, JSON.stringify(answer.response));

    await Promise.all([first.stop(), second.stop()]);
    nodes.length = 0;
    const third = await startBerth({ env: { BERTH_STORE_URL: url }, adminKey: first.adminKey });
    nodes.push(third);
    assert.equal(await latest(third), 2, 'the store keeps what the nodes acknowledged');
  });
});
