/**
 * `berth store copy`: one node's records (its SQLite home) moved into a cluster's PostgreSQL without loss. After the
 * copy a cluster node serves what the single node had: its runtimes and their versions, endpoints, API keys (the same
 * keys open the same sessions), secrets (sealed again under the cluster's key), code (fetched from the cluster's
 * archive) and ended sessions' records. A second copy changes nothing; a target that holds other records under the
 * same names is refused, untouched; bad arguments are clear errors.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { BIN, deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { clusterSecrets, joinCluster } from '../helpers/cluster.ts';
import { runCommand } from '../helpers/commands.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { rawCall, toolText } from '../helpers/mcp.ts';
import { postgresUnsupportedReason, startPostgres, type Postgres } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';

const skip = BwrapDriver.unsupportedReason() ?? postgresUnsupportedReason() ?? false;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function storeCopy(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) =>
    execFile(process.execPath, [BIN, 'store', 'copy', ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

describe('berth store copy, from a node to a cluster', { skip }, () => {
  let postgres: Postgres;
  const homes: string[] = [];
  const nodes: BerthNode[] = [];
  before(async () => {
    postgres = await startPostgres();
  });
  after(async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    await postgres?.stop();
    for (const home of homes) rmSync(home, { recursive: true, force: true });
  });

  const freshHome = (): string => {
    const home = mkdtempSync(join(tmpdir(), 'berth-copy-'));
    homes.push(home);
    return home;
  };

  test("the cluster serves what the node had: runtimes, versions, endpoints, keys, secrets, code and ended sessions' records", async () => {
    const home = freshHome();
    const single = await startBerth({ home });
    nodes.push(single);
    const counter = await fixtureDir('counter-server');
    await deploy(single, 'counter', counter, { secretEnv: { SECRET_WORD: 'swordfish' }, env: { PLAIN: 'plain' } });
    await deploy(single, 'counter', counter, { secretEnv: { SECRET_WORD: 'marlin' } });
    assert.equal(
      (
        await single.admin('/v1/runtimes/counter/endpoints/pinned', {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ version: 1 }),
        })
      ).status,
      201,
    );
    await deploy(single, 'keyed', counter, { authorizer: { type: 'apiKey' } });
    const made = await single.admin('/v1/keys', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ runtime: 'keyed', user: 'alice' }),
    });
    const { key } = (await made.json()) as { key: string };
    const ended = randomUUID();
    assert.equal((await rawCall(single.url, 'counter', 'tools/call', 'increment', {}, { sessionId: ended })).status, 200);
    assert.equal((await single.admin(`/v1/sessions/${ended}`, { method: 'DELETE' })).status, 200);
    const runtimesBefore = await single.api.runtimes();
    await single.stop();

    const store = await postgres.database();
    const secrets = clusterSecrets();
    const copied = await storeCopy(['--from', home, '--to', store], { BERTH_SECRET_KEY: secrets.BERTH_SECRET_KEY as string });
    assert.equal(copied.code, 0, copied.stderr);
    assert.match(copied.stdout, /^runtimes: 2 copied, 0 already there$/m);
    assert.match(copied.stdout, /^runtime_versions: 3 copied, 0 already there$/m);
    assert.match(copied.stdout, /^ended_sessions: 1 copied/m);

    // A node of the cluster, with a home of its own: nothing comes from the single node's home but through the store.
    const member = await joinCluster({ store, secrets, adminKey: single.adminKey });
    nodes.push(member);
    assert.deepEqual(
      (await member.api.runtimes()).map((r) => [r.name, r.latestVersion, r.id]),
      runtimesBefore.map((r) => [r.name, r.latestVersion, r.id]),
      'the same runtimes, ids and versions, and the admin key still opens the control API',
    );
    const word = async (): Promise<string> => {
      const session = randomUUID();
      const answer = await rawCall(member.url, 'counter', 'tools/call', 'increment', {}, { sessionId: session });
      assert.equal(answer.status, 200, JSON.stringify(answer.response));
      return (await runCommand(member.url, 'counter', session, 'echo "$SECRET_WORD $PLAIN"')).stdout.trim();
    };
    assert.equal(await word(), 'marlin', 'the newest version, its secret sealed again and opened by the cluster');
    const keyed = await rawCall(member.url, 'keyed', 'tools/call', 'increment', {}, { sessionId: randomUUID(), headers: { authorization: `Bearer ${key}` } });
    assert.equal(keyed.status, 200, 'the same API key opens the same runtime');
    assert.deepEqual(toolText(keyed), { count: 1 });
    const { endpoints } = (await (await member.admin('/v1/runtimes/counter/endpoints')).json()) as {
      endpoints: Array<{ name: string; targetVersion: number }>;
    };
    assert.equal(endpoints.find((e) => e.name === 'pinned')?.targetVersion, 1, 'the endpoint still pins version 1');
    const record = (await (await member.admin(`/v1/sessions/${ended}`)).json()) as { state: string; reason: string };
    assert.deepEqual([record.state, record.reason], ['ended', 'stopped']);

    const again = await storeCopy(['--from', home, '--to', store], { BERTH_SECRET_KEY: secrets.BERTH_SECRET_KEY as string });
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /[1-9]\d* copied/, 'a second copy finds everything there');

    // What changes on the node after a copy (a key revoked, an endpoint moved) reaches the cluster with the next one.
    const back = await startBerth({ home });
    nodes.push(back);
    assert.equal((await back.admin(`/v1/keys/${key.split('_')[1]}`, { method: 'DELETE' })).status, 200);
    const moved = await back.admin('/v1/runtimes/counter/endpoints/pinned', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: 2 }),
    });
    assert.equal(moved.status, 200, await moved.clone().text());
    await back.stop();
    // The store's URL (and its password) may come from BERTH_STORE_URL instead of the command line.
    const malformed = await storeCopy(['--from', home], { BERTH_SECRET_KEY: secrets.BERTH_SECRET_KEY as string, BERTH_STORE_URL: 'not a url' });
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /BERTH_STORE_URL must be a PostgreSQL URL/);
    const fourth = await storeCopy(['--from', home], { BERTH_SECRET_KEY: secrets.BERTH_SECRET_KEY as string, BERTH_STORE_URL: store });
    assert.equal(fourth.code, 0, fourth.stderr);
    assert.match(fourth.stdout, /^api_keys: 1 copied/m);
    assert.match(fourth.stdout, /^runtime_endpoints: 1 copied/m);
    await waitFor(async () => {
      const answer = await rawCall(
        member.url,
        'keyed',
        'tools/call',
        'increment',
        {},
        { sessionId: randomUUID(), headers: { authorization: `Bearer ${key}` } },
      );
      return answer.status === 401;
    }, 'the revoked key to be refused by the cluster');
    const { endpoints: after } = (await (await member.admin('/v1/runtimes/counter/endpoints')).json()) as {
      endpoints: Array<{ name: string; targetVersion: number }>;
    };
    assert.equal(after.find((e) => e.name === 'pinned')?.targetVersion, 2);
  });

  test('a target holding other records under the same names is refused and left untouched; bad arguments are clear errors', async () => {
    const store = await postgres.database();
    const secrets = clusterSecrets();
    const member = await joinCluster({ store, secrets });
    nodes.push(member);
    await deploy(member, 'counter', await fixtureDir('counter-server'));
    const home = freshHome();
    const single = await startBerth({ home });
    await deploy(single, 'counter', await fixtureDir('counter-server'));
    await single.stop();
    const refused = await storeCopy(['--from', home, '--to', store], { BERTH_SECRET_KEY: secrets.BERTH_SECRET_KEY as string });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /runtime "counter" exists in the target as another runtime/);
    assert.equal((await member.api.runtimes()).length, 1, 'nothing was written');

    const otherKey = clusterSecrets().BERTH_SECRET_KEY as string;
    const wrongKey = await storeCopy(['--from', home, '--to', store], { BERTH_SECRET_KEY: otherKey });
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.stderr, /BERTH_SECRET_KEY is not the secret key of the cluster/);
    const env = { BERTH_SECRET_KEY: secrets.BERTH_SECRET_KEY as string };
    for (const [args, message, given] of [
      [['--to', store], /--from is required/, env],
      [['--from', home], /--to \(or BERTH_STORE_URL\) is required/, env],
      [['--from', home, '--to', 'mysql://db/berth'], /--to must be a PostgreSQL URL/, env],
      [['--from', home, '--to', store], /BERTH_SECRET_KEY is required/, {}],
      [['--from', join(home, 'nowhere'), '--to', store], /berth\.db does not exist/, env],
      [['--from', home, '--to', store, '--bogus'], /bogus/, env],
    ] as const) {
      const run = await storeCopy([...args], { ...given });
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
    }
  });
});
