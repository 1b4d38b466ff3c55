/**
 * Commands in a session's sandbox (what AgentCore's InvokeAgentRuntimeCommand runs), through berth's native route
 * `POST /runtimes/{name}/sessions/{id}/commands`: output streams as NDJSON as it is produced, the command runs in
 * the sandbox with the runtime's environment and the session's files, and a timeout or a departed client kills it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { connectSession } from '../helpers/mcp.ts';
import { waitFor } from '../helpers/wait.ts';
import { ndjson, outcome, type CommandOutcome as Outcome, type Event } from '../helpers/commands.ts';

/** Host processes whose command line holds `text`. */
function hostProcessesWith(text: string): number {
  let count = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').includes(text)) count++;
    } catch {
      // exited meanwhile
    }
  }
  return count;
}

function commandsSuite(driver: 'bwrap' | 'process', skip: string | false): void {
  describe(`commands in sessions on the ${driver} driver`, { skip }, () => {
    let node: BerthNode;
    const secret = join(tmpdir(), `berth-command-secret-${process.pid}-${driver}`);

    const post = (runtime: string, sessionId: string, body: unknown, init: { signal?: AbortSignal; headers?: Record<string, string> } = {}) =>
      fetch(`${node.url}/runtimes/${runtime}/sessions/${sessionId}/commands`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...init.headers },
        body: JSON.stringify(body),
        signal: init.signal,
      });
    const run = async (runtime: string, sessionId: string, command: string, timeoutSeconds?: number): Promise<Outcome> => {
      const response = await post(runtime, sessionId, timeoutSeconds === undefined ? { command } : { command, timeoutSeconds });
      assert.equal(response.status, 200, await response.clone().text());
      assert.equal(response.headers.get('content-type'), 'application/x-ndjson');
      assert.equal(response.headers.get(SESSION_HEADER), sessionId);
      const events: Event[] = [];
      for await (const event of ndjson(response.body as AsyncIterable<Uint8Array>)) events.push(event);
      return outcome(events);
    };
    /** Sandbox processes whose command line mentions `text` (the pattern's brackets keep the search out of it). */
    const processesLike = async (runtime: string, sessionId: string, pattern: string): Promise<number> => {
      const { stdout } = await run(
        runtime,
        sessionId,
        `for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -c '${pattern}' || true`,
      );
      return Number(stdout.trim());
    };

    before(async () => {
      writeFileSync(secret, 'host secret', { mode: 0o644 });
      node = await startBerth({ driver });
      const counter = await fixtureDir('counter-server');
      await deploy(node, 'cmd-stdio', counter, { transport: 'stdio', env: { DECLARED: 'yes' } });
      await deploy(node, 'cmd-http', counter, { transport: 'http' });
      await deploy(node, 'cmd-agent', await fixtureDir('http-agent'), { protocol: 'http', transport: 'http', port: 8080 });
      await deploy(node, 'cmd-idle', counter, { transport: 'stdio', idleTimeoutSeconds: 1 });
    });
    after(async () => {
      await node?.stop();
      rmSync(secret, { force: true });
    });

    for (const runtime of ['cmd-stdio', 'cmd-http', 'cmd-agent']) {
      test(`${runtime}: a command runs in the session's sandbox, starting the session when it has none`, async () => {
        const s = randomUUID();
        const result = await run(runtime, s, 'echo hello; echo oops >&2; exit 3');
        assert.equal(result.stdout, 'hello\n');
        assert.equal(result.stderr, 'oops\n');
        assert.deepEqual(result.exit, { exitCode: 3, status: 'COMPLETED' });
        assert.ok((await node.api.sessions(runtime)).some((entry) => entry.id === s));
      });
    }

    test('stdout and stderr arrive separately, in the order they were produced', async () => {
      const result = await run('cmd-stdio', randomUUID(), 'echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three; sleep 0.2; echo four >&2');
      const sequence = result.events.map((event) => ('stdout' in event ? `out:${event.stdout}` : 'stderr' in event ? `err:${event.stderr}` : 'exit'));
      assert.deepEqual(sequence, ['out:one\n', 'err:two\n', 'out:three\n', 'err:four\n', 'exit']);
      assert.deepEqual(result.exit, { exitCode: 0, status: 'COMPLETED' });
    });

    test('output streams as it is produced: the first line arrives while the command waits to print the second', async () => {
      const s = randomUUID();
      const gate = `/tmp/gate-${randomUUID()}`;
      // On the process driver the sandbox's /tmp is the host's: the gate file is removed when the test ends.
      try {
        const response = await post('cmd-stdio', s, { command: `echo first; while [ ! -e ${gate} ]; do sleep 0.05; done; echo second` });
        assert.equal(response.status, 200);
        const events = ndjson(response.body as AsyncIterable<Uint8Array>);
        // The command prints its second line only once the gate file exists, and only this test, having seen the
        // first line, makes it: if berth held the output back, this would never finish.
        assert.deepEqual((await events.next()).value, { stdout: 'first\n' });
        assert.deepEqual((await run('cmd-stdio', s, `touch ${gate}`)).exit, { exitCode: 0, status: 'COMPLETED' });
        const rest: Event[] = [];
        for (let next = await events.next(); !next.done; next = await events.next()) rest.push(next.value);
        assert.deepEqual(rest, [{ stdout: 'second\n' }, { exit: { exitCode: 0, status: 'COMPLETED' } }]);
      } finally {
        rmSync(gate, { force: true });
      }
    });

    test("exit codes: the command's own, and 128 + the signal that ended it", async () => {
      const s = randomUUID();
      assert.deepEqual((await run('cmd-stdio', s, 'true')).exit, { exitCode: 0, status: 'COMPLETED' });
      assert.deepEqual((await run('cmd-stdio', s, 'exit 42')).exit, { exitCode: 42, status: 'COMPLETED' });
      assert.deepEqual((await run('cmd-stdio', s, 'no-such-program-here')).exit, { exitCode: 127, status: 'COMPLETED' });
      assert.deepEqual((await run('cmd-stdio', s, 'kill -TERM $$')).exit, { exitCode: 143, status: 'COMPLETED' });
    });

    test('past its timeout the whole process group is killed and the command reports TIMED_OUT', async () => {
      const s = randomUUID();
      // A duration no other test's sleep has: on the process driver the check sees every process of the host.
      const marker = `100.${randomUUID().replace(/\D/g, '').slice(0, 8)}1`;
      const started = Date.now();
      const result = await run('cmd-stdio', s, `sleep ${marker} & echo started; wait`, 1);
      assert.equal(result.stdout, 'started\n');
      assert.deepEqual(result.exit, { exitCode: -1, status: 'TIMED_OUT' });
      assert.ok(Date.now() - started < 10_000);
      await waitFor(async () => (await processesLike('cmd-stdio', s, `[s]leep ${marker}`)) === 0, 'the background sleep to be killed too');
    });

    test('a client that goes away kills its command', async () => {
      const s = randomUUID();
      const controller = new AbortController();
      const response = await post('cmd-stdio', s, { command: 'echo started; sleep 101; echo never' }, { signal: controller.signal });
      const events = ndjson(response.body as AsyncIterable<Uint8Array>);
      assert.deepEqual((await events.next()).value, { stdout: 'started\n' });
      controller.abort();
      await assert.rejects(events.next());
      await waitFor(async () => (await processesLike('cmd-stdio', s, '[s]leep 101')) === 0, 'the command to be killed');
      await waitFor(async () => (await node.api.sessions('cmd-stdio')).find((entry) => entry.id === s)?.inFlight === 0, 'the command to leave flight');
    });

    test('a session that ends takes its running commands with it, whether stopped or its server exits', async () => {
      for (const ending of ['stop', 'crash'] as const) {
        const s = randomUUID();
        const marker = `${1000 + Math.floor(Math.random() * 9000)}.5`;
        const client = await connectSession(node.url, 'cmd-stdio', s);
        try {
          const response = await post('cmd-stdio', s, { command: `sleep ${marker} & echo started; wait` });
          const events = ndjson(response.body as AsyncIterable<Uint8Array>);
          assert.deepEqual((await events.next()).value, { stdout: 'started\n' });
          // The background sleep may still be between fork and exec, when its command line reads empty for a moment.
          await waitFor(() => hostProcessesWith(`sleep ${marker}`) === 2, 'the shell and its background sleep to run');
          if (ending === 'stop') assert.equal((await node.admin(`/v1/sessions/${s}`, { method: 'DELETE' })).status, 200);
          else await assert.rejects(client.call('crash'));
          await assert.rejects(async () => {
            for (let next = await events.next(); !next.done; next = await events.next())
              assert.ok(!('exit' in next.value), 'no exit for a command whose sandbox ended');
            throw new Error('the answer ended without its exit');
          });
          await waitFor(() => hostProcessesWith(`sleep ${marker}`) === 0, `the command's background process to be gone after ${ending}`);
        } finally {
          await client.close();
        }
      }
    });

    test("the command sees the runtime's environment, HOME and working directory, as the server does", async () => {
      const s = randomUUID();
      const client = await connectSession(node.url, 'cmd-stdio', s);
      try {
        const server = (await client.call('whoami')) as { env: Record<string, string>; cwd: string; home: string };
        const result = await run('cmd-stdio', s, 'pwd; env -0');
        const [cwd, ...rest] = result.stdout.split('\n');
        const env = Object.fromEntries(
          rest
            .join('\n')
            .split('\0')
            .filter(Boolean)
            .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
        ) as Record<string, string>;
        assert.equal(cwd, server.cwd);
        assert.equal(env.DECLARED, 'yes');
        assert.equal(env.HOME, server.home);
        assert.equal(env.PATH, server.env.PATH);
        for (const [name, value] of Object.entries(server.env)) assert.equal(env[name], value, name);
        // The shell adds its own working directory; nothing else comes from berth or the host.
        assert.deepEqual(
          Object.keys(env).filter((name) => !(name in server.env)),
          ['PWD'],
        );
        if (driver === 'bwrap') assert.deepEqual([cwd, env.HOME], ['/app', '/workspace']);
      } finally {
        await client.close();
      }
    });

    test("commands share the session's files with its server, both ways", async () => {
      const s = randomUUID();
      const client = await connectSession(node.url, 'cmd-stdio', s);
      try {
        await client.call('write_file', { name: 'from-server.txt', content: 'written by the server' });
        assert.equal((await run('cmd-stdio', s, 'cat "$HOME/from-server.txt"')).stdout, 'written by the server');
        await run('cmd-stdio', s, 'printf "written by a command" > "$HOME/from-command.txt"');
        assert.deepEqual(await client.call('read_file', { name: 'from-command.txt' }), { ok: true, value: 'written by a command' });
        // Another session sees neither.
        assert.equal((await run('cmd-stdio', randomUUID(), 'ls -A "$HOME"')).stdout, '');
      } finally {
        await client.close();
      }
      const agent = randomUUID();
      await run('cmd-agent', agent, 'printf agent-file > "$HOME/note.txt"');
      const read = await fetch(`${node.url}/runtimes/cmd-agent/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [SESSION_HEADER]: agent },
        body: JSON.stringify({ action: 'read_file', name: 'note.txt' }),
      });
      assert.deepEqual(await read.json(), { ok: true, value: 'agent-file' });
    });

    test('a running command keeps its session from idling', async () => {
      const s = randomUUID();
      const client = await connectSession(node.url, 'cmd-idle', s);
      try {
        assert.deepEqual(await client.call('increment'), { count: 1 });
        const result = await run('cmd-idle', s, 'sleep 2.5; echo done');
        assert.equal(result.stdout, 'done\n');
        assert.deepEqual(await client.call('increment'), { count: 2 }, 'the same sandbox, 2.5 s past a 1 s idle timeout');
      } finally {
        await client.close();
      }
    });

    test('large output arrives whole and in order', async () => {
      const result = await run('cmd-stdio', randomUUID(), 'seq 1 200000; printf "é%.0s" $(seq 1 30000) >&2');
      assert.equal(result.stdout, `${Array.from({ length: 200_000 }, (_, i) => i + 1).join('\n')}\n`);
      assert.equal(result.stderr, 'é'.repeat(30_000));
      assert.deepEqual(result.exit, { exitCode: 0, status: 'COMPLETED' });
    });

    test('a client slower than its command gets all of its output, even what the shell left writing in the background', async () => {
      // The shell exits at once; its background pipeline writes on for as long as the client takes the output.
      const response = await post('cmd-stdio', randomUUID(), { command: "head -c 20000000 /dev/zero | tr '\\0' a & echo started >&2" });
      assert.equal(response.status, 200);
      let stdout = 0;
      let stderr = '';
      let last: Event | undefined;
      let rested = false;
      for await (const event of ndjson(response.body as AsyncIterable<Uint8Array>)) {
        if ('stdout' in event) stdout += event.stdout.length;
        if ('stderr' in event) stderr += event.stderr;
        last = event;
        if (!rested && stdout > 1_000_000) {
          // Take nothing for a while: every buffer on the way fills, and the command must wait, not lose output.
          rested = true;
          await new Promise((resolve) => setTimeout(resolve, 1500));
        }
      }
      assert.equal(stdout, 20_000_000);
      assert.equal(stderr, 'started\n');
      assert.deepEqual(last, { exit: { exitCode: 0, status: 'COMPLETED' } });
    });

    test('bad command requests are refused before any sandbox sees them', async () => {
      const s = randomUUID();
      const cases: Array<[unknown, string]> = [
        [{ command: '' }, 'validation_failed'],
        [{ command: 'x'.repeat(65_537) }, 'validation_failed'],
        [{ command: 'echo', timeoutSeconds: 0 }, 'validation_failed'],
        [{ command: 'echo', timeoutSeconds: 3601 }, 'validation_failed'],
        [{ command: 'echo', timeoutSeconds: 1.5 }, 'validation_failed'],
        [{ command: 'echo', timeout: 5 }, 'validation_failed'],
        [{ command: 'echo\0hidden' }, 'validation_failed'],
        [['echo'], 'validation_failed'],
      ];
      for (const [body, code] of cases) {
        const response = await post('cmd-stdio', s, body);
        assert.equal(response.status, 400, JSON.stringify(body).slice(0, 80));
        assert.equal(((await response.json()) as { error: { code: string } }).error.code, code);
      }
      const untyped = await post('cmd-stdio', s, { command: 'echo' }, { headers: { 'content-type': 'text/plain' } });
      assert.equal(untyped.status, 415);
      assert.equal((await post('no-such-runtime', s, { command: 'echo' })).status, 404);
      const shortId = await post('cmd-stdio', 'short', { command: 'echo' });
      assert.equal(((await shortId.json()) as { error: { code: string } }).error.code, 'invalid_session_id');
      assert.equal(
        (await node.api.sessions('cmd-stdio')).some((entry) => entry.id === s),
        false,
      );
    });

    test('the maximum command length runs', async () => {
      const padding = 'x'.repeat(65_536 - 'echo ok #'.length);
      const result = await run('cmd-stdio', randomUUID(), `echo ok #${padding}`);
      assert.equal(result.stdout, 'ok\n');
    });

    test('a command runs inside the sandbox, as its server does', { skip: driver === 'bwrap' ? false : 'the process driver does not isolate' }, async () => {
      const s = randomUUID();
      const result = await run(
        'cmd-stdio',
        s,
        `id -u; cat /proc/sys/kernel/hostname; cat ${secret} || echo unreadable; ls ${node.home} || echo unlisted; ls /`,
      );
      const lines = result.stdout.trim().split('\n');
      assert.deepEqual(lines.slice(0, 4), ['1000', 'sandbox', 'unreadable', 'unlisted']);
      assert.doesNotMatch(result.stdout, /host secret/);
      assert.deepEqual(lines.slice(4).sort(), ['app', 'bin', 'dev', 'etc', 'lib', 'lib64', 'opt', 'proc', 'run', 'sbin', 'tmp', 'usr', 'workspace']);
      // No network beyond the sandbox's own loopback.
      const network = await run('cmd-stdio', s, 'cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "');
      assert.equal(network.stdout.trim(), 'lo');
    });
  });
}

commandsSuite('bwrap', BwrapDriver.unsupportedReason() ?? false);
commandsSuite('process', false);
