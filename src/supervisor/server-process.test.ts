import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { SupervisorSpec } from '../core/channel.ts';
import { attachServer } from './server-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'berth-attach-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function stdioSpec(name: string): SupervisorSpec {
  // SAFETY: attachServer reads only these fields of a stdio spec.
  return {
    runtime: 'late',
    command: 'cat',
    transport: 'stdio',
    stdinPath: join(dir, `${name}.in`),
    stdoutPath: join(dir, `${name}.out`),
    startTimeoutMs: 5_000,
  } as SupervisorSpec;
}

/** Makes the FIFOs, as the launcher does, then starts `script`, which decides when the server opens them. */
function launch(spec: SupervisorSpec, script: string): number {
  execFileSync('/usr/bin/mkfifo', [spec.stdinPath, spec.stdoutPath]);
  const child = spawn('/bin/sh', ['-c', script, 'sh', spec.stdinPath, spec.stdoutPath], { stdio: 'ignore' });
  after(() => child.kill('SIGKILL'));
  return child.pid as number;
}

test('a stdio server that opens its FIFOs after the supervisor looks is waited for, not taken for gone', async () => {
  const spec = stdioSpec('slow');
  // Regression: the supervisor once took ENXIO for a server gone, then waited on nothing and exited 0 in silence.
  const pid = launch(spec, 'sleep 0.3; exec cat 1<>"$2" 0<>"$1"');
  await new Promise((resolve) => setTimeout(resolve, 50));
  const server = await attachServer(spec, pid);
  const echoed = new Promise<string>((resolve) => server.stdout?.once('data', (chunk: Buffer) => resolve(String(chunk))));
  server.stdin?.write('{"jsonrpc":"2.0","method":"ping"}\n');
  assert.equal(await echoed, '{"jsonrpc":"2.0","method":"ping"}\n');
  server.stdin?.destroy();
  server.stdout?.destroy();
});

test('a stdio server that exits before it opens its FIFOs fails the attach with the reason', async () => {
  const spec = stdioSpec('gone');
  const pid = launch(spec, 'exit 4');
  await assert.rejects(attachServer(spec, pid), /the server exited \(.*\) before it was ready/);
});
