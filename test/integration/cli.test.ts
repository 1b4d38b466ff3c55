/**
 * The `berth` command against a real node: deploy, runtimes, sessions, stop; what it says about bad input; and
 * runtimes surviving a restart of berth on the same home.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { BIN, startBerth } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { connectSession } from '../helpers/mcp.ts';
import { waitFor } from '../helpers/wait.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI with `BERTH_HOME` naming the home the test's nodes use: it finds the admin key berth made there. */
function berth(...args: string[]): Promise<Run> {
  return berthWith({ BERTH_HOME: home }, ...args);
}

function berthWith(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const home = mkdtempSync(join(tmpdir(), 'berth-cli-'));
chmodSync(home, 0o711);
after(() => rmSync(home, { recursive: true, force: true }));

describe('the berth command', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  test('deploys, lists, stops, and keeps runtimes across a restart', async () => {
    const dir = await fixtureDir('counter-server');
    let node = await startBerth({ home });
    try {
      const first = await berth(
        'deploy',
        dir,
        '--name',
        'cli-counter',
        '--command',
        'node server.js stdio',
        '--transport',
        'stdio',
        '--env',
        'GREETING=hi',
        '--url',
        node.url,
      );
      assert.deepEqual(first, { code: 0, stdout: 'cli-counter v1\n', stderr: '' });
      const second = await berth(
        'deploy',
        dir,
        '--name',
        'cli-counter',
        '--command',
        'node server.js stdio',
        '--transport',
        'stdio',
        '--allow',
        'api.example.com',
        '--allow',
        '*.example.org',
        '--url',
        node.url,
      );
      assert.equal(second.stdout, 'cli-counter v2\n');

      const runtimes = await berth('runtimes', '--url', node.url);
      assert.equal(runtimes.code, 0);
      assert.match(runtimes.stdout, /^NAME\s+VERSION\s+TRANSPORT/);
      assert.match(runtimes.stdout, /cli-counter\s+v2\s+stdio\s+node server\.js stdio/);

      const session = await connectSession(node.url, 'cli-counter');
      await session.call('increment');
      const sessions = await berth('sessions', '--runtime', 'cli-counter', '--url', node.url);
      assert.match(sessions.stdout, new RegExp(`${session.sessionId}\\s+cli-counter\\s+v2\\s+ready`));
      const stopped = await berth('stop', session.sessionId, '--url', node.url);
      assert.deepEqual(stopped, { code: 0, stdout: `stopped ${session.sessionId}\n`, stderr: '' });
      assert.equal((await node.api.sessions()).length, 0);
      const again = await berth('stop', session.sessionId, '--url', node.url);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /no live session/);
      await session.close();
    } finally {
      await node.stop();
    }

    node = await startBerth({ home });
    try {
      const runtimes = await berth('runtimes', '--url', node.url);
      assert.match(runtimes.stdout, /cli-counter\s+v2/);
      const versions = (await (await node.admin(`/v1/runtimes/cli-counter/versions`)).json()) as {
        versions: Array<{ version: number; spec: { env: Record<string, string>; network?: unknown } }>;
      };
      assert.deepEqual(
        versions.versions.map((v) => v.version),
        [1, 2],
      );
      assert.deepEqual(versions.versions[0]?.spec.env, { GREETING: 'hi' });
      assert.equal(versions.versions[0]?.spec.network, undefined);
      assert.deepEqual(versions.versions[1]?.spec.network, { mode: 'egress', allow: ['api.example.com', '*.example.org'] });
      const session = await connectSession(node.url, 'cli-counter');
      assert.deepEqual(await session.call('increment'), { count: 1 });
      await session.close();
    } finally {
      await node.stop();
    }
  });

  test('deploy waits for a warm pool to fill; sessions --watch shows the list again until interrupted', async () => {
    const node = await startBerth({ home });
    try {
      const dir = await fixtureDir('counter-server');
      const deployed = await berth(
        'deploy',
        dir,
        '--name',
        'pooled',
        '--command',
        'node server.js stdio',
        '--transport',
        'stdio',
        '--warm-pool',
        '1',
        '--url',
        node.url,
      );
      assert.equal(deployed.code, 0, deployed.stderr);
      assert.equal(deployed.stdout, 'pooled v1\n');
      const view = (await (await node.admin('/v1/runtimes/pooled')).json()) as { warmPool?: { ready: number } };
      assert.equal(view.warmPool?.ready, 1, 'deploy returned once the pool was ready');

      const session = await connectSession(node.url, 'pooled');
      try {
        await session.call('increment');
        const watch = spawn(process.execPath, [BIN, 'sessions', '--watch', '--interval', '0.5', '--url', node.url], {
          env: { PATH: process.env.PATH, BERTH_HOME: home },
        });
        let stdout = '';
        watch.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        const exited = new Promise<number | null>((resolve) => watch.once('exit', (code) => resolve(code)));
        await waitFor(() => (stdout.match(/^--- /gm) ?? []).length >= 2, 'two frames of the watched list');
        assert.equal((stdout.match(new RegExp(session.sessionId, 'g')) ?? []).length >= 2, true, stdout);
        watch.kill('SIGINT');
        assert.equal(await exited, 0);
      } finally {
        await session.close();
      }
      const badInterval = await berth('sessions', '--watch', '--interval', '0', '--url', node.url);
      assert.equal(badInterval.code, 2);
      assert.match(badInterval.stderr, /--interval must be a number from 0.5 to 3600/);
    } finally {
      await node.stop();
    }
  });

  test('bad deploys say what to fix', async () => {
    const dir = await fixtureDir('counter-server');
    const missing = await berth('deploy', '/no/such/dir', '--name', 'x', '--command', 'node s.js');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /directory \/no\/such\/dir does not exist/);
    const bogus = await berth('deploy', dir, '--name', 'x', '--command', 'node s.js', '--bogus');
    assert.equal(bogus.code, 2);
    assert.match(bogus.stderr, /Unknown option '--bogus'/);
    assert.match(bogus.stderr, /usage: berth/);
    const transport = await berth('deploy', dir, '--name', 'x', '--command', 'node s.js', '--transport', 'pigeon');
    assert.match(transport.stderr, /--transport must be one of stdio, http, got "pigeon"/);
    const noName = await berth('deploy', dir, '--command', 'node s.js');
    assert.match(noName.stderr, /--name is required/);
    const noCommand = await berth('deploy', dir, '--name', 'x');
    assert.match(noCommand.stderr, /--command is required/);
    const egressAlone = await berth('deploy', dir, '--name', 'x', '--command', 'node s.js', '--network', 'egress');
    assert.match(egressAlone.stderr, /--network egress needs what it may reach: --allow/);
    const allowHost = await berth('deploy', dir, '--name', 'x', '--command', 'node s.js', '--network', 'host', '--allow', 'a.example.com');
    assert.match(allowHost.stderr, /--allow goes with --network egress, not --network host/);
    const sessionless = await berth('deploy', dir, '--name', 'x', '--command', 'node s.js', '--sessionless-clients', 'sometimes');
    assert.match(sessionless.stderr, /--sessionless-clients must be one of stateful, stateless, got "sometimes"/);
    const warmupPath = await berth('deploy', dir, '--name', 'x', '--command', 'node s.js', '--warmup', 'warmup');
    assert.equal(warmupPath.code, 2);
    assert.match(warmupPath.stderr, /--warmup warmup: give the hook's path, and its port when not the server's: \/warmup or \/warmup:8080/);
    const warmupPort = await berth('deploy', dir, '--name', 'x', '--command', 'node s.js', '--warmup', '/warmup:99999');
    assert.equal(warmupPort.code, 2);
    assert.match(warmupPort.stderr, /--warmup port/);
    const badEnv = await berth('deploy', dir, '--name', 'x', '--command', 'node s.js', '--env', 'NOEQUALS');
    assert.match(badEnv.stderr, /--env takes K=V/);
    const unreachable = await berth('deploy', dir, '--name', 'x', '--command', 'node s.js', '--url', 'http://127.0.0.1:9');
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot reach berth at http:\/\/127\.0\.0\.1:9/);
    const unknown = await berth('frobnicate');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
  });

  test('the server refuses what only it can check, and the command says so', async () => {
    const node = await startBerth({ home });
    try {
      const dir = await fixtureDir('counter-server');
      const badName = await berth('deploy', dir, '--name', '9lives', '--command', 'node s.js', '--url', node.url);
      assert.equal(badName.code, 1);
      assert.match(badName.stderr, /runtime name "9lives" is not valid/);
      const badVar = await berth('deploy', dir, '--name', 'ok', '--command', 'node s.js', '--env', '1X=y', '--url', node.url);
      assert.equal(badVar.code, 1);
      assert.match(badVar.stderr, /env\.1X/);
      const badAllow = await berth('deploy', dir, '--name', 'ok', '--command', 'node s.js', '--allow', 'exa mple.com', '--url', node.url);
      assert.equal(badAllow.code, 1);
      assert.match(badAllow.stderr, /"exa mple.com" is neither a host name/);
      const stateless = await berth(
        'deploy',
        dir,
        '--name',
        'stateless',
        '--command',
        'node server.js stdio',
        '--transport',
        'stdio',
        '--sessionless-clients',
        'stateless',
        '--url',
        node.url,
      );
      assert.equal(stateless.code, 0, stateless.stderr);
      assert.equal((await node.api.runtimes()).find((runtime) => runtime.name === 'stateless')?.spec.sessionlessClients, 'stateless');
    } finally {
      await node.stop();
    }
  });

  test('keys: made, listed and revoked; the control API opens to an admin key only', async () => {
    const node = await startBerth({ home });
    const elsewhere = mkdtempSync(join(tmpdir(), 'berth-cli-nokey-'));
    try {
      const keyless = await berthWith({ BERTH_HOME: elsewhere }, 'runtimes', '--url', node.url);
      assert.equal(keyless.code, 1);
      assert.match(keyless.stderr, /needs an admin key/);
      assert.match(keyless.stderr, /no admin key: BERTH_ADMIN_KEY is unset and .*berth-cli-nokey-.*\/keys\/admin-key cannot be read/);

      const made = await berth('keys', 'create', '--admin', '--description', 'ci', '--url', node.url);
      assert.equal(made.code, 0, made.stderr);
      const adminKey = made.stdout.trim();
      assert.match(adminKey, /^berth_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$/);
      assert.match(made.stderr, /made key [a-z2-7]{16} \(admin\); berth shows it only now/);
      const withKey = await berthWith({ BERTH_HOME: elsewhere, BERTH_ADMIN_KEY: adminKey }, 'runtimes', '--url', node.url);
      assert.equal(withKey.code, 0, withKey.stderr);

      const dir = await fixtureDir('counter-server');
      assert.equal(
        (
          await berth(
            'deploy',
            dir,
            '--name',
            'keyed',
            '--command',
            'node server.js stdio',
            '--transport',
            'stdio',
            '--authorizer',
            'apiKey',
            '--url',
            node.url,
          )
        ).code,
        0,
      );
      const runtimeKey = await berth('keys', 'create', '--runtime', 'keyed', '--user', 'alice', '--url', node.url);
      assert.equal(runtimeKey.code, 0, runtimeKey.stderr);
      assert.match(runtimeKey.stderr, /runtime keyed, user alice/);
      const asRuntimeKey = await berthWith({ BERTH_HOME: elsewhere, BERTH_ADMIN_KEY: runtimeKey.stdout.trim() }, 'sessions', '--url', node.url);
      assert.equal(asRuntimeKey.code, 1);
      assert.match(asRuntimeKey.stderr, /this key opens runtime "keyed"'s sessions, not berth's control API/);

      const listed = await berth('keys', '--url', node.url);
      assert.match(listed.stdout, /^ID\s+OPENS\s+USER\s+CREATED\s+REVOKED\s+DESCRIPTION/);
      assert.match(listed.stdout, /runtime:keyed\s+alice/);
      assert.doesNotMatch(listed.stdout, /berth_/, 'a list never shows a key');
      const id = /made key ([a-z2-7]{16})/.exec(made.stderr)?.[1] as string;
      assert.deepEqual(await berth('keys', 'revoke', id, '--url', node.url), { code: 0, stdout: `revoked ${id}\n`, stderr: '' });
      const revoked = await berthWith({ BERTH_HOME: elsewhere, BERTH_ADMIN_KEY: adminKey }, 'runtimes', '--url', node.url);
      assert.equal(revoked.code, 1);
      assert.match(revoked.stderr, /the admin key is unknown or was revoked/);
      const usage = await berth('keys', 'create', '--url', node.url);
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /--runtime NAME \(its sessions\) or --admin/);
    } finally {
      await node.stop();
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  test('shell: a shell in a live session from the command line, its output, and its exit status', async () => {
    const node = await startBerth({ home });
    try {
      const deployed = await berth(
        'deploy',
        await fixtureDir('http-agent'),
        '--name',
        'cli-agent',
        '--command',
        'node server.js',
        '--transport',
        'http',
        '--protocol',
        'http',
        '--port',
        '8080',
        '--url',
        node.url,
      );
      assert.equal(deployed.code, 0, deployed.stderr);
      const invoked = await fetch(`${node.url}/runtimes/cli-agent/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ action: 'write_file', name: 'left.txt', content: 'by-the-agent' }),
      });
      const sessionId = invoked.headers.get('x-amzn-bedrock-agentcore-runtime-session-id') as string;
      assert.equal(invoked.status, 200);
      const shell = spawn(process.execPath, [BIN, 'shell', sessionId, '--url', node.url], { env: { PATH: process.env.PATH, BERTH_HOME: home } });
      let stdout = '';
      shell.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => shell.once('exit', (code) => resolve(code)));
      shell.stdin.write('echo from-cli-$((3*3)) $(cat $HOME/left.txt); exit 5\n');
      assert.equal(await exited, 5);
      assert.match(stdout, /from-cli-9 by-the-agent/);

      const missing = await berth('shell', 'no-such-session-00000000000000000000000', '--url', node.url);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /session/);
      const badId = await berth('shell', sessionId, '--shell-id', '../x', '--url', node.url);
      assert.equal(badId.code, 2);
      assert.match(badId.stderr, /--shell-id is 1 to 128 letters/);
    } finally {
      await node.stop();
    }
  });

  test('berth serve refuses bad flags before doing anything', async () => {
    const run = await berth('serve', '--port', 'eighty');
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--port must be an integer from 0 to 65535, got "eighty"/);
  });
});
