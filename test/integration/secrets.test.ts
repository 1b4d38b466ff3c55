/**
 * Secrets at rest on a real node: a runtime's secret variable reaches its own sandbox and nothing else. berth's
 * logs (at debug), every `/v1` answer and its error messages never hold the value; no file in berth's home holds
 * it (the store keeps it sealed under the secret key), nor the request-state key in the clear; after a restart the
 * sandbox still gets it, and a berth started with another secret key refuses to start rather than run without it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { GvisorDriver } from '../../src/sandbox/drivers/gvisor/driver.ts';
import { BIN, deploy, startBerth } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { rawCall, toolText } from '../helpers/mcp.ts';

/** Every regular file under `dir` whose bytes contain `needle`. */
function filesHolding(dir: string, needle: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const path = join(dir, entry);
    let stat;
    try {
      stat = statSync(path);
    } catch {
      continue; // gone meanwhile
    }
    if (stat.isFile() && readFileSync(path).includes(needle)) found.push(path);
  }
  return found;
}

describe('secret environment variables', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  const home = mkdtempSync(join(tmpdir(), 'berth-secrets-'));
  chmodSync(home, 0o711);
  after(() => rmSync(home, { recursive: true, force: true }));
  const secret = `s3cr3t-${randomUUID()}`;
  const cliSecret = `cli-s3cr3t-${randomUUID()}`;

  test('reach their sandbox, and no log, answer, error or file of berth holds them', async () => {
    const node = await startBerth({ home, env: { BERTH_LOG_LEVEL: 'debug' } });
    try {
      await deploy(node, 'vault', await fixtureDir('counter-server'), { env: { PLAIN: 'visible' }, secretEnv: { API_TOKEN: secret } });
      // The CLI takes a secret's value from its own environment, never its command line.
      const viaCli = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        fixtureDir('counter-server').then((dir) =>
          execFile(
            process.execPath,
            [
              BIN,
              'deploy',
              dir,
              '--name',
              'vault-cli',
              '--command',
              'node server.js stdio',
              '--transport',
              'stdio',
              '--secret-env',
              'DB_PASSWORD',
              '--url',
              node.url,
            ],
            { env: { PATH: process.env.PATH, BERTH_HOME: node.home, DB_PASSWORD: cliSecret } },
            (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr }),
          ),
        ),
      );
      assert.deepEqual(viaCli, { code: 0, stdout: 'vault-cli v1\n', stderr: '' });

      const inside = toolText(await rawCall(node.url, 'vault', 'tools/call', 'whoami', {})) as { env: Record<string, string> };
      assert.equal(inside.env.API_TOKEN, secret, 'the server gets the value');
      assert.equal(inside.env.PLAIN, 'visible');
      const insideCli = toolText(await rawCall(node.url, 'vault-cli', 'tools/call', 'whoami', {})) as { env: Record<string, string> };
      assert.equal(insideCli.env.DB_PASSWORD, cliSecret);

      // A server that prints its own secret: its logs show the line with the value hidden.
      const printed = await rawCall(node.url, 'vault', 'tools/call', 'write_stderr', { text: `connecting with token ${secret} now` });
      const sessionId = printed.headers.get('x-amzn-bedrock-agentcore-runtime-session-id') as string;
      const logs = (await node.admin(`/v1/sessions/${sessionId}/logs`).then((r) => r.json())) as { lines: Array<{ line: string }> };
      assert.ok(
        logs.lines.some((entry) => entry.line === 'connecting with token (secret) now'),
        JSON.stringify(logs.lines),
      );

      const answers: string[] = [];
      for (const path of ['/v1/runtimes', '/v1/runtimes/vault', '/v1/runtimes/vault/versions', '/v1/runtimes/vault-cli/versions', '/v1/sessions']) {
        const response = await node.admin(path);
        assert.equal(response.status, 200, path);
        answers.push(await response.text());
      }
      const shown = JSON.parse(answers[1] as string) as { spec: { env: Record<string, string>; secretEnv: Record<string, string> } };
      assert.deepEqual(shown.spec.secretEnv, { API_TOKEN: '(secret)' }, 'named, never shown');
      assert.deepEqual(shown.spec.env, { PLAIN: 'visible' });
      const deployAnswer = await node.admin('/v1/runtimes/vault', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          artifactId: JSON.parse(answers[1] as string).spec.artifactId,
          command: 'node server.js stdio',
          transport: 'stdio',
          secretEnv: { API_TOKEN: secret },
        }),
      });
      answers.push(await deployAnswer.text());
      // Refused deploys: the error names the fault, never the value.
      for (const body of [
        { artifactId: 'art_nope', command: 'x', secretEnv: { API_TOKEN: secret } },
        { artifactId: 'art_nope', command: 'x', secretEnv: { API_TOKEN: `${secret}\u0000` } },
        { artifactId: 'art_nope', command: 'x', secretEnv: { 'BAD NAME': secret } },
        { artifactId: JSON.parse(answers[1] as string).spec.artifactId, command: 'x', secretEnv: { API_TOKEN: '(secret)', OTHER: secret } },
        { artifactId: JSON.parse(answers[1] as string).spec.artifactId, command: 'x', env: { API_TOKEN: 'a' }, secretEnv: { API_TOKEN: secret } },
      ]) {
        const refused = await node.admin('/v1/runtimes/vault', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        assert.ok(refused.status >= 400, JSON.stringify(Object.keys(body)));
        answers.push(await refused.text());
      }
      assert.match(answers.at(-2) as string, /API_TOKEN holds \\"\(secret\)\\", how berth shows a secret, not its value/);
      assert.match(answers.at(-1) as string, /API_TOKEN is in both env and secretEnv/);
      for (const answer of answers) {
        assert.ok(!answer.includes(secret) && !answer.includes(cliSecret), `an answer holds a secret: ${answer.slice(0, 200)}`);
      }
      assert.ok(!node.logs().includes(secret) && !node.logs().includes(cliSecret), "berth's log holds a secret");
      assert.deepEqual(filesHolding(node.home, secret), [], 'a file in berth home holds the secret while its session lives');
      assert.deepEqual(filesHolding(node.home, cliSecret), []);
      const stateKey = readFileSync(join(node.home, 'keys', 'request-state.key'));
      assert.notEqual(stateKey.length, 32, 'the request-state key is kept sealed, not raw');
      assert.equal(statSync(join(node.home, 'keys', 'secret.key')).mode & 0o777, 0o600);
    } finally {
      await node.stop();
    }

    const again = await startBerth({ home });
    try {
      const inside = toolText(await rawCall(again.url, 'vault', 'tools/call', 'whoami', {})) as { env: Record<string, string> };
      assert.equal(inside.env.API_TOKEN, secret, 'after a restart the sandbox still gets it');
    } finally {
      await again.stop();
    }
    await assert.rejects(
      startBerth({ home, env: { BERTH_SECRET_KEY: Buffer.alloc(32, 1).toString('base64') } }),
      /the secret key is not the one this home's secrets are sealed with/,
    );
  });
});

describe('secret environment variables on gVisor', { skip: GvisorDriver.unsupportedReason() ?? false }, () => {
  test("rest in no file of berth's home while the sandbox lives: its bundle and runsc's state are in memory", async () => {
    const secret = `s3cr3t-${randomUUID()}`;
    const node = await startBerth({ driver: 'gvisor' });
    try {
      await deploy(node, 'vault', await fixtureDir('counter-server'), { secretEnv: { API_TOKEN: secret } });
      const inside = toolText(await rawCall(node.url, 'vault', 'tools/call', 'whoami', {})) as { env: Record<string, string> };
      assert.equal(inside.env.API_TOKEN, secret);
      assert.deepEqual(filesHolding(node.home, secret), []);
    } finally {
      await node.stop();
    }
  });
});
