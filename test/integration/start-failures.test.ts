/**
 * A failed start explains itself (issue 14): the error a client gets carries the server's last output (its secrets
 * hidden) and, for the usual mistakes, what to do; the ended session shows in `/v1/sessions/{id}` and its logs in
 * `berth logs`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { BIN, deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { rawCall } from '../helpers/mcp.ts';

/** A directory holding one `server.js` of the given source. */
function serverDir(dirs: string[], source: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-start-failure-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'server.js'), source);
  return dir;
}

describe('a failed start explains itself', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  const dirs: string[] = [];
  before(async () => {
    node = await startBerth({ env: { BERTH_START_TIMEOUT_MS: '3000' } });
    await deploy(
      node,
      'missing-package',
      serverDir(dirs, "import('fastmcp').then(() => {}, (error) => { process.stderr.write(String(error) + '\\n'); process.exit(1); });"),
      {
        command: 'node server.js',
        secretEnv: { API_TOKEN: 'tok-very-secret-1234' },
      },
    );
    await deploy(
      node,
      'http-as-stdio',
      serverDir(dirs, "require('node:http').createServer(() => {}).listen(3000, () => console.log('Server listening on http://localhost:3000'));"),
      {
        command: 'node server.js',
      },
    );
    await deploy(node, 'downloads', serverDir(dirs, ''), { command: 'npx -y @modelcontextprotocol/server-memory' });
    await deploy(node, 'prints-secret', serverDir(dirs, "process.stderr.write('token is ' + process.env.API_TOKEN + '\\n'); process.exit(2);"), {
      command: 'node server.js',
      secretEnv: { API_TOKEN: 'tok-very-secret-1234' },
    });
  });
  after(async () => {
    await node?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  async function failedStart(runtime: string): Promise<{ session: string; message: string; data: Record<string, unknown> }> {
    const session = randomUUID();
    const answer = await rawCall(node.url, runtime, 'tools/call', 'anything', {}, { sessionId: session });
    assert.ok(answer.status >= 500, `${runtime}: ${answer.status}`);
    return { session, message: answer.response.error?.message ?? '', data: answer.response.error?.data ?? {} };
  }

  test("a missing package: the server's own words, a hint, and the ended session with its logs", async () => {
    const { session, message, data } = await failedStart('missing-package');
    assert.match(message, /Cannot find package 'fastmcp'/);
    assert.match(message, /Hint: the server cannot find "fastmcp".*npm install.*npm:PACKAGE/);
    assert.ok(Array.isArray(data.output) && (data.output as string[]).some((line) => line.includes("Cannot find package 'fastmcp'")));
    const ended = (await (await node.admin(`/v1/sessions/${session}`)).json()) as { state: string; reason: string; error: { code: string; message: string } };
    assert.equal(ended.state, 'ended');
    assert.equal(ended.reason, 'start-failed');
    assert.match(ended.error.message, /Cannot find package 'fastmcp'/);
    const logs = (await (await node.admin(`/v1/sessions/${session}/logs`)).json()) as { live: boolean; lines: Array<{ line: string }> };
    assert.equal(logs.live, false);
    assert.ok(logs.lines.some(({ line }) => line.includes("Cannot find package 'fastmcp'")));
    const cli = await new Promise<string>((resolve) =>
      execFile(
        process.execPath,
        [BIN, 'logs', session, '--url', node.url],
        { env: { PATH: process.env.PATH, BERTH_ADMIN_KEY: node.adminKey } },
        (_error, stdout) => resolve(stdout),
      ),
    );
    assert.match(cli, /Cannot find package 'fastmcp'/);
  });

  test('an HTTP server deployed as stdio is told to deploy with --transport http', async () => {
    const { message } = await failedStart('http-as-stdio');
    assert.match(message, /within 3000 ms \(BERTH_START_TIMEOUT_MS\)/, 'the timeout named is the one configured');
    assert.match(message, /Hint: its output says it serves HTTP.*--transport http/);
    assert.match(message, /Server listening on http:\/\/localhost:3000/);
  });

  test('a command that downloads is told the sandbox has no network', async () => {
    const { message } = await failedStart('downloads');
    assert.match(message, /Hint: the sandbox has no network.*berth deploy npm:PACKAGE/);
  });

  test("the output an error carries hides the runtime's secrets", async () => {
    const { message, data, session } = await failedStart('prints-secret');
    assert.match(message, /token is \(secret\)/);
    assert.doesNotMatch(JSON.stringify({ message, data }), /tok-very-secret-1234/);
    const ended = await (await node.admin(`/v1/sessions/${session}`)).text();
    assert.doesNotMatch(ended, /tok-very-secret-1234/);
  });
});
