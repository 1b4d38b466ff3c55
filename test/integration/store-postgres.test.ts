/**
 * berth nodes on one PostgreSQL (`--store`): real nodes on a real PostgreSQL share one control plane and know each
 * other. A runtime deployed through one node is seen by another at once, keys made or revoked on one hold on all,
 * records outlive every node, and `/v1/nodes` (and `berth nodes`) lists the members with their leases: a node that
 * leaves is gone, one killed stops being live when its lease runs out. A node given a wrong store, wrong keys or an
 * advertise URL that does not reach it stops at start with the reason.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { clusterSecrets, joinCluster } from '../helpers/cluster.ts';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { rawCall, toolText } from '../helpers/mcp.ts';
import { startRoundRobin } from '../helpers/round-robin.ts';
import { packDirectory } from '../../src/cli/pack.ts';
import { openStore } from '../../src/store/open-store.ts';
import { freePort } from '../helpers/ports.ts';
import { postgresUnsupportedReason, startPostgres, type Postgres } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';

const skip = BwrapDriver.unsupportedReason() ?? postgresUnsupportedReason() ?? false;
const BIN = fileURLToPath(new URL('../../bin/berth', import.meta.url));

interface NodeView {
  id: string;
  url: string;
  state: string;
  live: boolean;
  self: boolean;
  sessions: number;
}

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

  /** Starts a node of the cluster at `store` on a port of its own, which it advertises. */
  async function member(store: string, secrets: Record<string, string>, adminKey?: string, env: Record<string, string> = {}): Promise<BerthNode> {
    const node = await joinCluster({ store, secrets, env, ...(adminKey === undefined ? {} : { adminKey }) });
    nodes.push(node);
    return node;
  }

  const listNodes = async (node: BerthNode): Promise<NodeView[]> => ((await (await node.admin('/v1/nodes')).json()) as { nodes: NodeView[] }).nodes;

  test('a wrong store, missing keys, or an advertise URL that does not reach the node stop it at start, saying why', async () => {
    await assert.rejects(startBerth({ env: { BERTH_STORE_URL: 'mysql://db/berth' } }), /BERTH_STORE_URL must be a PostgreSQL URL/);
    await assert.rejects(startBerth({ env: { BERTH_STORE_URL: await server.database() } }), /needs --advertise-url.*BERTH_CLUSTER_KEY.*BERTH_SECRET_KEY/s);
    await assert.rejects(startBerth({ env: { BERTH_ADVERTISE_URL: 'http://127.0.0.1:1' } }), /BERTH_ADVERTISE_URL is for the nodes of a cluster/);
    await assert.rejects(
      startBerth({
        env: {
          BERTH_STORE_URL: `postgresql://berth:not-shown@127.0.0.1:${server.port + 1}/berth`,
          BERTH_ADVERTISE_URL: 'http://127.0.0.1:1',
          ...clusterSecrets(),
        },
      }),
      (error: Error) => {
        assert.match(error.message, /berth cannot use the store at postgresql:\/\/berth@127\.0\.0\.1:\d+\/berth/);
        assert.doesNotMatch(error.message, /not-shown/);
        return true;
      },
    );
    const store = await server.database();
    const unreachable = await freePort();
    await assert.rejects(
      startBerth({ env: { BERTH_STORE_URL: store, BERTH_ADVERTISE_URL: `http://127.0.0.1:${unreachable}`, ...clusterSecrets() } }),
      /--advertise-url http:\/\/127\.0\.0\.1:\d+ does not reach this node, so no other node would/,
    );
  });

  test('a node given another cluster key or secret key than its cluster has is refused at start', async () => {
    const store = await server.database();
    const secrets = clusterSecrets();
    const first = await member(store, secrets);
    await assert.rejects(
      member(store, { ...secrets, BERTH_CLUSTER_KEY: randomBytes(32).toString('base64') }, first.adminKey),
      /BERTH_CLUSTER_KEY is not the key of the cluster/,
    );
    await assert.rejects(
      member(store, { ...secrets, BERTH_SECRET_KEY: randomBytes(32).toString('base64') }, first.adminKey),
      /BERTH_SECRET_KEY is not the secret key of the cluster/,
    );
    // Another node's address is not this node's, even in the same cluster.
    await assert.rejects(
      startBerth({ env: { BERTH_STORE_URL: store, BERTH_ADVERTISE_URL: first.url, ...secrets }, adminKey: first.adminKey }),
      /reaches another node of this cluster/,
    );
    assert.equal((await listNodes(first)).length, 1, 'no refused node joined');
  });

  test('nodes share one control plane and its keys, at once, and the records outlive them', async () => {
    const store = await server.database();
    const secrets = clusterSecrets();
    const latest = async (node: BerthNode): Promise<number> =>
      ((await (await node.admin('/v1/runtimes/counter')).json()) as { latestVersion: number }).latestVersion;
    // The first node makes the schema and the first admin key; the second joins and makes neither. (Migrations
    // racing between nodes that start together are the store's own test.)
    const first = await member(store, secrets);
    const second = await member(store, secrets, first.adminKey);
    assert.match(second.logs(), /the store already holds a live admin key/);
    const counter = await fixtureDir('counter-server');
    // Code uploaded through one node runs on every node: the others fetch it from the cluster's archive.
    const { artifactId } = await first.api.uploadArtifact(packDirectory(counter));
    const version = { artifactId, command: 'node server.js stdio', transport: 'stdio', env: {} } as const;
    await first.api.deploy('counter', version);
    assert.equal(await latest(second), 1, "the second node sees the first node's deploy at once");
    await second.api.deploy('counter', version);
    assert.equal(await latest(first), 2, 'one numbering of versions across nodes');

    const made = await first.admin('/v1/keys', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ admin: true, description: 'made on the first node' }),
    });
    assert.equal(made.status, 201);
    const { key } = (await made.json()) as { key: string };
    const withKey = (node: BerthNode): Promise<number> =>
      fetch(`${node.url}/v1/runtimes`, { headers: { authorization: `Bearer ${key}` } }).then((response) => response.status);
    for (const node of [second, first]) assert.equal(await withKey(node), 200, 'a key made on one node opens every node');
    // Each node now keeps the key it verified, and asks the store nothing for it; a revocation still reaches both.
    assert.equal((await second.admin(`/v1/keys/${key.split('_')[1]}`, { method: 'DELETE' })).status, 200);
    assert.equal(await withKey(second), 401, 'revoked, refused at once where it was revoked');
    const revokedAt = Date.now();
    await waitFor(async () => (await withKey(first)) === 401, 'the revocation to reach the other node', 5_000);
    assert.ok(Date.now() - revokedAt < 3_000, `and within about a second there (${Date.now() - revokedAt} ms)`);

    // A session resolved on one node runs the version a deploy through another node made, within about a second.
    const versionOf = async (session: string): Promise<number> => {
      const answer = await rawCall(second.url, 'counter', 'tools/call', 'increment', {}, { sessionId: session });
      assert.equal(answer.status, 200, JSON.stringify(answer.response));
      return ((await (await second.admin(`/v1/sessions/${session}`)).json()) as { version: number }).version;
    };
    assert.equal(await versionOf(randomUUID()), 2);
    await first.api.deploy('counter', version);
    const deployedAt = Date.now();
    await waitFor(async () => (await versionOf(randomUUID())) === 3, "the other node's new sessions to run the new version", 5_000);
    assert.ok(Date.now() - deployedAt < 3_000, `within about a second (${Date.now() - deployedAt} ms)`);

    await Promise.all([first.stop(), second.stop()]);
    const third = await member(store, secrets, first.adminKey);
    assert.equal(await latest(third), 3, 'the store keeps what the nodes acknowledged');
  });

  test("behind a plain round-robin balancer, a session keeps its state whichever node takes each request, and a killed owner's sessions are answered again", async () => {
    const store = await server.database();
    const secrets = clusterSecrets();
    const first = await member(store, secrets);
    const members = [first, await member(store, secrets, first.adminKey), await member(store, secrets, first.adminKey)];
    // The same code uploaded through every node is one artifact, by its bytes, on each.
    const counter = await fixtureDir('counter-server');
    const uploaded = await Promise.all(members.map((node) => node.api.uploadArtifact(packDirectory(counter))));
    assert.equal(new Set(uploaded.map((u) => u.artifactId)).size, 1);
    await first.api.deploy('counter', { artifactId: uploaded[0]!.artifactId, command: 'node server.js stdio', transport: 'stdio', env: {} });
    const balancer = await startRoundRobin(members.map((node) => node.url));
    try {
      const session = randomUUID();
      const count = async (): Promise<number> => {
        const answer = await rawCall(balancer.url, 'counter', 'tools/call', 'increment', {}, { sessionId: session });
        assert.equal(answer.status, 200, JSON.stringify(answer.response));
        return (toolText(answer) as { count: number }).count;
      };
      const counts: number[] = [];
      for (let i = 0; i < 9; i++) counts.push(await count());
      assert.deepEqual(counts, [1, 2, 3, 4, 5, 6, 7, 8, 9], 'one sandbox holds the session, wherever each request landed');
      // A client claiming to be a node (a made-up hop token and epoch) is a client: refused at the internal route,
      // passed on as any request elsewhere, and the session goes on.
      for (const node of members) {
        assert.equal((await fetch(`${node.url}/internal/v1/node`)).status, 403);
        assert.equal((await fetch(`${node.url}/internal/v1/node`, { headers: { 'x-berth-hop': 'forged' } })).status, 403);
        const forged = await rawCall(
          node.url,
          'counter',
          'tools/call',
          'increment',
          {},
          {
            sessionId: session,
            headers: { 'x-berth-hop': 'forged', 'x-berth-hop-epoch': '999' },
          },
        );
        assert.equal(forged.status, 200, JSON.stringify(forged.response));
      }
      assert.equal(await count(), 13, 'the forged headers changed nothing');
      // A runtime that does not exist has no session to place: the directory is not touched.
      const stray = randomUUID();
      assert.equal((await rawCall(first.url, 'no-such-runtime', 'tools/call', 'increment', {}, { sessionId: stray })).status, 404);
      const { store: records, directory } = await openStore({ postgresql: store });
      try {
        assert.equal(await directory?.lookup(stray), undefined);
        assert.equal((await directory?.lookup(session))?.epoch, 1);
      } finally {
        await records.close();
      }
      // Every node lists the whole cluster's sessions, this one once, on the node that holds it.
      const listed = await Promise.all(
        members.map(async (node) => ((await (await node.admin('/v1/sessions')).json()) as { sessions: Array<{ id: string; node: string }> }).sessions),
      );
      const holders = members.filter((node) => listed[0]?.some((s) => s.id === session && s.node === node.url));
      assert.equal(holders.length, 1, 'exactly one node holds it');
      for (const list of listed) assert.deepEqual(list, listed[0], 'every node answers the same list');

      const owner = holders[0] as BerthNode;
      // Any node answers for any session, naming the node that holds it.
      for (const node of members) {
        const described = (await (await node.admin(`/v1/sessions/${session}`)).json()) as { id: string; node: string };
        assert.equal(described.node, owner.url, `asked at ${node.url}`);
      }
      owner.process.kill('SIGKILL');
      const lostAt = Date.now();
      let again: number | undefined;
      while (again === undefined && Date.now() - lostAt < 20_000) {
        const answer = await rawCall(balancer.url, 'counter', 'tools/call', 'increment', {}, { sessionId: session });
        if (answer.status === 200) again = (toolText(answer) as { count: number }).count;
        else await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.equal(again, 1, 'a fresh sandbox answers the session again (its state was on the lost node)');
      const { store: kept } = await openStore({ postgresql: store });
      try {
        // The node that took the id over recorded the loss, in the background.
        await waitFor(async () => (await kept.getEndedSession(session))?.reason === 'node-lost', "the lost session's ended record");
        assert.deepEqual(await kept.getEndedSession(session), {
          ...((await kept.getEndedSession(session)) as object),
          id: session,
          runtime: 'counter',
          version: 1,
          principal: 'anonymous',
          reason: 'node-lost',
          node: owner.url,
        });
      } finally {
        await kept.close();
      }
      assert.ok(Date.now() - lostAt < 15_000, `answered again within 15 s (took ${Date.now() - lostAt} ms)`);
      assert.equal(await count(), 2, 'and keeps its new state across nodes');
      // Stopped through a node that does not hold it, the session ends where it is held.
      const survivor = members.find((n) => n !== owner) as BerthNode;
      const holder = ((await (await survivor.admin(`/v1/sessions/${session}`)).json()) as { node?: string }).node;
      const other = members.find((n) => n !== owner && n.url !== holder) as BerthNode;
      assert.equal((await other.admin(`/v1/sessions/${session}`, { method: 'DELETE' })).status, 200);
      // Its end is the cluster's record, read from the store by a node that never held it.
      await waitFor(async () => {
        const view = (await (await other.admin(`/v1/sessions/${session}`)).json()) as { state?: string; reason?: string };
        return view.state === 'ended' && view.reason === 'stopped';
      }, 'the ended record through any node');
      assert.equal(await count(), 1, 'the next request starts a fresh sandbox');
    } finally {
      await balancer.close();
    }
  });

  test('/v1/nodes and berth nodes list the members; one that leaves is gone, one killed stops being live when its lease runs out', async () => {
    const store = await server.database();
    const secrets = clusterSecrets();
    const first = await member(store, secrets);
    const second = await member(store, secrets, first.adminKey);
    const third = await member(store, secrets, first.adminKey);
    const seen = await listNodes(second);
    assert.deepEqual(seen.map((n) => n.url).sort(), [first.url, second.url, third.url].sort());
    assert.ok(seen.every((n) => n.live && n.state === 'live'));
    assert.deepEqual(
      seen.filter((n) => n.self).map((n) => n.url),
      [second.url],
      'the node that answered is marked',
    );

    const printed = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [BIN, 'nodes', '--url', first.url], { env: { PATH: process.env.PATH, BERTH_ADMIN_KEY: first.adminKey } }, (error, stdout) =>
        error ? reject(error) : resolve(stdout),
      ),
    );
    for (const node of [first, second, third]) assert.ok(printed.includes(node.url), printed);

    await second.stop();
    assert.deepEqual((await listNodes(first)).map((n) => n.url).sort(), [first.url, third.url].sort(), 'a node that stops leaves');

    third.process.kill('SIGKILL');
    await waitFor(async () => (await listNodes(first)).some((n) => n.url === third.url && !n.live), 'the killed node to lose its lease', 20_000);
    assert.ok((await listNodes(first)).find((n) => n.url === first.url)?.live, 'the node that lives keeps its lease');
  });
});
