/**
 * Bodies berth gives up on while the client keeps sending (too large, a refused signature, a bad archive), archives
 * with hostile link paths, and methods fetch refuses: each once took the whole node down. Each now gets a clear
 * answer, and the node and a bystander session live through all of them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Header } from 'tar';
import { BwrapDriver } from '../../../src/sandbox/drivers/bwrap/driver.ts';
import { AWS_ENV } from '../../helpers/aws.ts';
import { BIN, deploy, startBerth, type BerthNode } from '../../helpers/berth.ts';
import { fixtureDir } from '../../helpers/fixtures.ts';
import { bystander, floodChunked, sendRaw, type Bystander } from '../../helpers/hostile.ts';
import { connectSession } from '../../helpers/mcp.ts';

const SESSION = 's'.repeat(40);
const FORGED_SIGV4 = {
  authorization: 'AWS4-HMAC-SHA256 Credential=AKIDBERTHTEST0001/20260101/us-west-2/bedrock-agentcore/aws4_request, SignedHeaders=host;x-amz-date, Signature=00',
  'x-amz-date': '20260101T000000Z',
  'content-type': 'application/json',
};

/** A tar archive written block by block, holding entries a well-behaved tar never writes. */
function tarOf(entries: Array<{ path: string; type: 'SymbolicLink' | 'Link'; linkpath: string }>): Buffer {
  const blocks = entries.map((entry) => {
    const block = Buffer.alloc(512);
    new Header({ path: entry.path, type: entry.type, linkpath: entry.linkpath, mode: 0o777, size: 0, mtime: new Date(0) }).encode(block, 0);
    return block;
  });
  return Buffer.concat([...blocks, Buffer.alloc(1024)]);
}

describe('bodies berth abandons, hostile archives, odd methods', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  let calm: Bystander;
  before(async () => {
    node = await startBerth({ env: AWS_ENV });
    await deploy(node, 'counter', await fixtureDir('counter-server'));
    calm = await bystander(node, 'counter');
  });
  after(async () => {
    await calm?.close();
    await node?.stop();
  });

  test('a big chunked body the node refuses early, on every kind of route, costs only that request', async () => {
    const admin = { authorization: `Bearer ${node.adminKey}` };
    const cases: Array<[string, string, Record<string, string>, number, number[], string?]> = [
      ['AgentCore CreateAgentRuntime with a forged signature', '/runtimes/', FORGED_SIGV4, 1_500_000, [400, 403]],
      ['AgentCore InvokeAgentRuntime with a forged signature', '/runtimes/counter/invocations?qualifier=DEFAULT', FORGED_SIGV4, 1_500_000, [400, 403]],
      [
        "a session's commands on a runtime with no authorizer",
        `/runtimes/counter/sessions/${SESSION}/commands`,
        { 'content-type': 'application/json' },
        3_000_000,
        [413],
      ],
      [
        'an MCP request past the body limit',
        '/runtimes/counter/mcp',
        { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        6_000_000,
        [413],
      ],
      ['an artifact upload that is not an archive', '/v1/artifacts', admin, 3_000_000, [400]],
      ['a runtime deploy past the JSON limit', '/v1/runtimes/big', { ...admin, 'content-type': 'application/json' }, 3_000_000, [413], 'PUT'],
      ['a control call with no credential', '/v1/runtimes/big', { 'content-type': 'application/json' }, 3_000_000, [401], 'PUT'],
    ];
    for (const [what, path, headers, bytes, statuses, method] of cases) {
      const answer = await floodChunked(node, path, headers, bytes, method);
      assert.ok(statuses.includes(answer.status), `${what}: got ${answer.status} ${answer.text.slice(0, 300)}`);
      await calm.check(what);
    }
    assert.doesNotMatch(node.logs(), /ERR_INVALID_STATE|unhandled edge error/);
  });

  test('archives with absolute or climbing link paths are refused or kept as links, and the node lives', async () => {
    const cases: Array<[string, Parameters<typeof tarOf>[0], number]> = [
      ['a symbolic link to an absolute path', [{ path: 'a', type: 'SymbolicLink', linkpath: '/etc/passwd' }], 201],
      ['a symbolic link that climbs out', [{ path: 'f', type: 'SymbolicLink', linkpath: '../../../../x' }], 201],
      ['a hard link to an absolute path', [{ path: 'b', type: 'Link', linkpath: '/etc/passwd' }], 400],
      ['a hard link that climbs out', [{ path: 'c', type: 'Link', linkpath: '../../etc/passwd' }], 400],
      ['a link placed above the artifact', [{ path: '../d', type: 'SymbolicLink', linkpath: 'x' }], 400],
      ['a link placed at an absolute path', [{ path: '/e', type: 'SymbolicLink', linkpath: 'x' }], 400],
    ];
    for (const [what, entries, status] of cases) {
      const response = await node.admin('/v1/artifacts', { method: 'POST', body: tarOf(entries) });
      const text = await response.text();
      assert.equal(response.status, status, `${what}: ${text}`);
      if (status === 400) assert.match(text, /"code":"validation_failed"/, what);
      await calm.check(what);
    }
  });

  test('berth deploy of a directory holding a link to /usr/bin/env works, twice, and the link works inside the sandbox', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-link-deploy-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const counter = await fixtureDir('counter-server');
    copyFileSync(join(counter, 'server.js'), join(dir, 'server.js'));
    symlinkSync('/usr/bin/env', join(dir, 'env-link'));
    const run = () =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [BIN, 'deploy', dir, '--name', 'linked', '--command', 'node server.js stdio', '--transport', 'stdio', '--url', node.url],
          { env: { PATH: process.env.PATH, BERTH_ADMIN_KEY: node.adminKey } },
          (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr }),
        );
      });
    assert.deepEqual(await run(), { code: 0, stdout: 'linked v1\n', stderr: '' });
    assert.deepEqual(await run(), { code: 0, stdout: 'linked v2\n', stderr: '' });
    const session = await connectSession(node.url, 'linked').catch((error: unknown) => {
      throw new Error(`${String(error)}\n${node.logs().split('\n').slice(-15).join('\n')}`);
    });
    try {
      const probe = (await session.call('probe_read', { path: '/app/env-link' })) as { ok: boolean };
      assert.equal(probe.ok, true, "the link resolves to the sandbox's own /usr/bin/env");
    } finally {
      await session.close();
    }
    await calm.check('deploying a directory with an absolute link');
  });

  test('TRACE and other methods fetch refuses are 405 with Allow, never 500, and log no error', async () => {
    for (const method of ['TRACE', 'PROPFIND']) {
      const answer = await sendRaw(node, `${method} /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      assert.equal(answer.status, 405, `${method}: ${answer.text}`);
      assert.match(answer.text, /\r\nallow: GET, HEAD, POST/i);
    }
    await calm.check('TRACE');
    assert.doesNotMatch(node.logs(), /unhandled edge error|request failed/);
  });
});
