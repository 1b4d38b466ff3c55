/**
 * Every list of `/v1` pages (`?limit=&next=`), against a real node: a runtime with 250 versions walked page by page,
 * the other lists (runtimes, endpoints, keys, sessions), the CLI's client still seeing every item, AgentCore's
 * `maxResults`/`nextToken` over the same store paging, and bad or hostile `limit` and `next` values refused with 400,
 * never a 500, leaving the node whole.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  BedrockAgentCoreControlClient,
  paginateListAgentRuntimeVersions,
  ValidationException,
  ListAgentRuntimesCommand,
} from '@aws-sdk/client-bedrock-agentcore-control';
import { packDirectory } from '../../src/cli/pack.ts';
import { startBerth, type BerthNode } from '../helpers/berth.ts';
import { AWS_ENV, AWS_KEYS } from '../helpers/aws.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { connectSession, type SessionClient } from '../helpers/mcp.ts';

const VERSIONS = 250;

interface ListAnswer {
  status: number;
  body: Record<string, unknown>;
}

describe('paginated lists', () => {
  let node: BerthNode;
  let artifactId: string;
  const get = async (path: string): Promise<ListAnswer> => {
    const response = await node.admin(path);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const put = async (path: string, body: Record<string, unknown>): Promise<void> => {
    const response = await node.admin(path, { method: 'PUT', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    assert.ok(response.ok, `PUT ${path}: ${response.status} ${await response.text()}`);
  };
  const deployVersion = (name: string, n: number) =>
    put(`/v1/runtimes/${name}`, { artifactId, command: 'node server.js stdio', transport: 'stdio', env: { N: String(n) } });

  /** Every item of a list, following `next`; each page's size checked against `limit`. */
  const walk = async (path: string, field: string, limit?: number): Promise<{ items: Array<Record<string, unknown>>; pages: number[] }> => {
    const items: Array<Record<string, unknown>> = [];
    const pages: number[] = [];
    let next: string | undefined;
    do {
      const query = new URLSearchParams({ ...(limit === undefined ? {} : { limit: String(limit) }), ...(next === undefined ? {} : { next }) });
      const separator = path.includes('?') ? '&' : '?';
      const { status, body } = await get(`${path}${query.size > 0 ? separator + query.toString() : ''}`);
      assert.equal(status, 200, JSON.stringify(body));
      const page = body[field] as Array<Record<string, unknown>>;
      assert.ok(Array.isArray(page), `${path} answers a "${field}" list`);
      assert.deepEqual(Object.keys(body).sort(), body.next === undefined ? [field] : ['next', field].sort());
      pages.push(page.length);
      items.push(...page);
      next = body.next as string | undefined;
      if (next !== undefined) assert.equal(page.length, limit ?? 100, 'a page with a next after it is full');
    } while (next !== undefined);
    return { items, pages };
  };

  before(async () => {
    node = await startBerth({ driver: 'process', env: AWS_ENV });
    artifactId = (await node.api.uploadArtifact(packDirectory(await fixtureDir('counter-server')))).artifactId;
    for (let n = 1; n <= VERSIONS; n++) await deployVersion('many', n);
    for (const name of ['rt-e', 'rt-a', 'rt-d', 'rt-b', 'rt-c']) await deployVersion(name, 1);
  });
  after(async () => {
    await node?.stop();
  });

  test(`a runtime's ${VERSIONS} versions come in pages of 100 unless asked otherwise, in order, next only while more remain`, async () => {
    const all = await walk('/v1/runtimes/many/versions', 'versions');
    assert.deepEqual(all.pages, [100, 100, 50]);
    assert.deepEqual(
      all.items.map((v) => v.version),
      Array.from({ length: VERSIONS }, (_, i) => i + 1),
    );
    assert.equal((all.items[VERSIONS - 1]?.spec as { env: Record<string, string> }).env.N, String(VERSIONS));
    const sevens = await walk('/v1/runtimes/many/versions', 'versions', 7);
    assert.equal(sevens.pages.length, Math.ceil(VERSIONS / 7));
    assert.deepEqual(sevens.items, all.items);
    const whole = await get('/v1/runtimes/many/versions?limit=1000');
    assert.equal((whole.body.versions as unknown[]).length, VERSIONS);
    assert.equal(whole.body.next, undefined);
    const exact = await walk('/v1/runtimes/many/versions', 'versions', 125);
    assert.deepEqual(exact.pages, [125, 125], 'a last page that is exactly full has no next');
  });

  test('runtimes, endpoints, keys and sessions page the same way, filters kept across pages', async () => {
    const runtimes = await walk('/v1/runtimes', 'runtimes', 2);
    assert.deepEqual(
      runtimes.items.map((r) => r.name),
      ['many', 'rt-a', 'rt-b', 'rt-c', 'rt-d', 'rt-e'],
    );
    assert.deepEqual(runtimes.pages, [2, 2, 2]);
    assert.equal(runtimes.items[0]?.latestVersion, VERSIONS);

    for (const endpoint of ['gamma', 'alpha', 'beta']) await put(`/v1/runtimes/many/endpoints/${endpoint}`, { version: 3 });
    for (const limit of [1, 2, 3, 4]) {
      const endpoints = await walk('/v1/runtimes/many/endpoints', 'endpoints', limit);
      assert.deepEqual(
        endpoints.items.map((e) => e.name),
        ['DEFAULT', 'alpha', 'beta', 'gamma'],
        `pages of ${limit}`,
      );
    }

    for (let i = 0; i < 5; i++) await node.api.createKey({ runtime: 'rt-a', user: `u${i}` });
    const unpaged = await get('/v1/keys?limit=1000');
    const keys = await walk('/v1/keys', 'keys', 2);
    assert.deepEqual(keys.items, unpaged.body.keys);
    assert.equal(keys.items.length, 6, 'five runtime keys and the first admin key');
    const runtimeKeys = await walk('/v1/keys?runtime=rt-a', 'keys', 2);
    assert.deepEqual(runtimeKeys.items.map((k) => k.user).sort(), ['u0', 'u1', 'u2', 'u3', 'u4']);

    const sessions: SessionClient[] = [];
    try {
      for (let i = 0; i < 3; i++) sessions.push(await connectSession(node.url, 'rt-a'));
      for (let i = 0; i < 2; i++) sessions.push(await connectSession(node.url, 'rt-b'));
      const all = await walk('/v1/sessions', 'sessions', 2);
      assert.deepEqual(
        all.items.map((s) => s.id),
        sessions.map((s) => s.sessionId).sort(),
      );
      const ofA = await walk('/v1/sessions?runtime=rt-a', 'sessions', 1);
      assert.deepEqual(
        ofA.items.map((s) => s.id),
        sessions
          .slice(0, 3)
          .map((s) => s.sessionId)
          .sort(),
      );
      const page = await walk('/v1/runtimes', 'runtimes', 3);
      assert.deepEqual(
        page.items.map((r) => r.liveSessions),
        [0, 3, 2, 0, 0, 0],
      );
    } finally {
      await Promise.all(sessions.map((s) => s.close()));
    }
  });

  test("the CLI's client follows next to every item of a list longer than a page", async () => {
    for (let i = 0; i < 1001; i++) await node.api.createKey({ runtime: 'rt-c', user: `bulk${i}` });
    const first = await get('/v1/keys?runtime=rt-c&limit=1000');
    assert.equal(typeof first.body.next, 'string', 'more than one page of keys');
    const keys = await node.api.keys('rt-c');
    assert.equal(keys.length, 1001);
    assert.equal(new Set(keys.map((k) => k.id)).size, 1001);
    assert.equal((await node.api.runtimes()).length, 6);
  });

  test('AgentCore lists page with maxResults and nextToken over the same store, versions newest first', async () => {
    const control = new BedrockAgentCoreControlClient({ endpoint: node.url, region: 'us-west-2', credentials: AWS_KEYS, maxAttempts: 1 });
    const runtimeId = (await node.api.runtimes()).find((r) => r.name === 'many')?.id;
    const versions: string[] = [];
    let pages = 0;
    for await (const page of paginateListAgentRuntimeVersions({ client: control, pageSize: 40 }, { agentRuntimeId: runtimeId })) {
      pages++;
      versions.push(...(page.agentRuntimes ?? []).map((r) => r.agentRuntimeVersion ?? ''));
    }
    assert.equal(pages, Math.ceil(VERSIONS / 40));
    assert.deepEqual(
      versions,
      Array.from({ length: VERSIONS }, (_, i) => String(VERSIONS - i)),
    );
    await assert.rejects(control.send(new ListAgentRuntimesCommand({ maxResults: 101 })), ValidationException);
    const v1Token = (await get('/v1/runtimes?limit=1')).body.next as string;
    await assert.rejects(control.send(new ListAgentRuntimesCommand({ nextToken: `${v1Token}x` })), ValidationException);
    control.destroy();
  });

  test('a bad limit is 400 validation_failed naming the parameter', async () => {
    for (const limit of ['0', '-1', '1001', '1e9', '1e2', 'abc', '', '1.5', ' 5', '0x10', '99999999999999999999', '%00']) {
      for (const path of ['/v1/runtimes', '/v1/runtimes/many/versions', '/v1/runtimes/many/endpoints', '/v1/keys', '/v1/sessions']) {
        const { status, body } = await get(`${path}?limit=${limit}`);
        assert.equal(status, 400, `${path}?limit=${limit}`);
        const error = body.error as { code: string; message: string; details?: { parameter?: string } };
        assert.equal(error.code, 'validation_failed');
        assert.equal(error.details?.parameter, 'limit');
        assert.match(error.message, /^limit must be a whole number from 1 to 1000/);
      }
    }
    const twice = await get('/v1/runtimes?limit=1&limit=2');
    assert.equal(twice.status, 400);
    assert.equal((twice.body.error as { details: { parameter: string } }).details.parameter, 'limit');
  });

  test('a tampered, foreign, SQL-looking or huge next token is 400, never 500, and the node stays whole', async () => {
    const b64 = (text: string) => Buffer.from(text).toString('base64url');
    const runtimesToken = (await get('/v1/runtimes?limit=1')).body.next as string;
    const versionsToken = (await get('/v1/runtimes/many/versions?limit=1')).body.next as string;
    const refused: Array<[string, string]> = [
      ['/v1/runtimes', 'not!base64'],
      ['/v1/runtimes', b64("' OR 1=1 --")],
      ['/v1/runtimes', b64(JSON.stringify(['runtimes', "many'; DROP TABLE runtimes; --"]))],
      ['/v1/runtimes', b64(JSON.stringify(['runtimes', "' OR ''='"]))],
      ['/v1/keys', b64(JSON.stringify(['keys', { createdAt: "2026-01-01' OR 1=1 --", id: 'x' }]))],
      ['/v1/keys', b64(JSON.stringify(['keys', { createdAt: '2026-01-01T00:00:00.000Z', id: 'aaaaaaaaaaaaaaaa', more: 1 }]))],
      ['/v1/runtimes/many/versions', b64(JSON.stringify(['versions', '1 OR 1=1']))],
      ['/v1/runtimes/many/versions', b64(JSON.stringify(['versions', -5]))],
      ['/v1/runtimes/many/versions', b64(JSON.stringify(['versions', 1e308]))],
      ['/v1/runtimes/many/versions', runtimesToken],
      ['/v1/runtimes', versionsToken],
      ['/v1/sessions', runtimesToken],
      ['/v1/keys', runtimesToken],
      ['/v1/runtimes', `${runtimesToken}AAAA`],
      ['/v1/runtimes', b64(JSON.stringify(['runtimes', 'A'.repeat(5000)]))],
      ['/v1/runtimes', 'A'.repeat(8000)],
    ];
    for (const [path, token] of refused) {
      const { status, body } = await get(`${path}?next=${encodeURIComponent(token)}`);
      assert.equal(status, 400, `${path} next=${token.slice(0, 60)}`);
      const error = body.error as { code: string; message: string; details?: { parameter?: string } };
      assert.equal(error.code, 'validation_failed');
      assert.equal(error.details?.parameter, 'next');
      assert.ok(error.message.length < 400, 'the error quotes only the start of the token');
    }
    const twice = await get(`/v1/runtimes?next=${runtimesToken}&next=${runtimesToken}`);
    assert.equal(twice.status, 400);

    const enormous = await node.admin(`/v1/runtimes?next=${'A'.repeat(200_000)}`);
    assert.ok(enormous.status >= 400 && enormous.status < 500, `an enormous token is refused (${enormous.status})`);
    await enormous.body?.cancel();
    const huge = await get('/v1/runtimes?limit=1e9');
    assert.equal(huge.status, 400);

    const runtimes = await get('/v1/runtimes?limit=1000');
    assert.equal((runtimes.body.runtimes as unknown[]).length, 6, 'every runtime is still there');
    assert.equal((await fetch(`${node.url}/healthz`)).status, 200);
    assert.ok(!/request failed|unhandled edge error/.test(node.logs()), 'nothing reached an internal error');
  });
});
