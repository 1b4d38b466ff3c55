/** Watching a server's threads to learn it has done what it does on its own (settle.ts), on real processes. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { settled } from './settle.ts';

async function timed(pid: number): Promise<number> {
  const started = performance.now();
  await settled(pid);
  return performance.now() - started;
}

test('a process that sleeps has settled at once; one that works has settled only once it stops', { skip: process.platform !== 'linux' }, async (t) => {
  const idle = spawn('sleep', ['30']);
  const busy = spawn('/bin/sh', [
    '-c',
    `${JSON.stringify(process.execPath)} -e "const end = Date.now() + 200; while (Date.now() < end); setTimeout(() => {}, 30000)"`,
  ]);
  t.after(() => {
    idle.kill('SIGKILL');
    busy.kill('SIGKILL');
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok((await timed(idle.pid as number)) < 100, 'a sleeping process settles within a few windows');
  // The shell's child does the work: a server's processes are watched with every one it started.
  assert.ok((await timed(busy.pid as number)) >= 100, 'the working child is waited for');
  assert.ok((await timed(busy.pid as number)) < 100, 'and once it idles, it has settled');
});

test('a process that cannot be read is not watched: berth pauses briefly instead', async () => {
  const elapsed = await timed(2 ** 22 + 1);
  assert.ok(elapsed >= 40 && elapsed < 200, `${elapsed} ms`);
});
