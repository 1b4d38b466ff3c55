/**
 * What the supervisor loads when it starts (issue 17): every sandbox starts one, so a module it loads at start is a
 * cost of every sandbox. node:crypto and node:http (some 5 ms between them) wait until a path that needs them runs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { buildSupervisor, SUPERVISOR_NODE_FLAGS } from './supervisor-program.ts';

const dir = mkdtempSync(join(tmpdir(), 'berth-supervisor-program-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the supervisor starts without node:crypto or node:http', async () => {
  const supervisor = await buildSupervisor(dir);
  // The supervisor, given no spec, reports that and exits; what Node had loaded by then is what its start loads.
  const probe = `process.on('exit', () => require('node:fs').writeSync(3, JSON.stringify(process.moduleLoadList))); require(${JSON.stringify(supervisor)});`;
  const run = spawnSync(process.execPath, [...SUPERVISOR_NODE_FLAGS, '-e', probe], { env: {}, stdio: ['ignore', 'pipe', 'pipe', 'pipe'], encoding: 'utf8' });
  const loaded = JSON.parse(run.output[3] ?? '[]') as string[];
  assert.ok(loaded.includes('NativeModule net'), `the probe saw the supervisor load (${run.stderr})`);
  for (const module of ['NativeModule http', 'NativeModule crypto']) assert.ok(!loaded.includes(module), `${module} is loaded at start`);
});
