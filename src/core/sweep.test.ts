import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sweepDirectories } from './sweep.ts';

test('removes the directories with the prefix, says how many and how much they held, and leaves the rest', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-sweep-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const outside = mkdtempSync(join(tmpdir(), 'berth-sweep-outside-'));
  t.after(() => rmSync(outside, { recursive: true, force: true }));
  writeFileSync(join(outside, 'precious'), 'x'.repeat(1000));
  mkdirSync(join(dir, 'sbx_a', 'home', 'deep'), { recursive: true });
  writeFileSync(join(dir, 'sbx_a', 'home', 'deep', 'f'), 'y'.repeat(300));
  writeFileSync(join(dir, 'sbx_a', 'g'), 'z'.repeat(200));
  // A link out of a swept directory is removed, never followed.
  symlinkSync(outside, join(dir, 'sbx_a', 'out'));
  mkdirSync(join(dir, 'sbx_b'));
  mkdirSync(join(dir, 'keep'));
  writeFileSync(join(dir, 'sbx_file'), 'not a directory');
  const swept = sweepDirectories(dir, 'sbx_');
  assert.equal(swept.count, 2);
  assert.ok(swept.bytes >= 500 && swept.bytes < 1000, String(swept.bytes));
  assert.equal(existsSync(join(dir, 'sbx_a')), false);
  assert.equal(existsSync(join(dir, 'sbx_b')), false);
  assert.equal(existsSync(join(dir, 'keep')), true);
  assert.equal(existsSync(join(dir, 'sbx_file')), true);
  assert.equal(existsSync(join(outside, 'precious')), true);
  assert.deepEqual(sweepDirectories(join(dir, 'missing'), 'sbx_'), { count: 0, bytes: 0 });
});
