import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { availableMemoryBytes } from './host-memory.ts';

const MB = 1024 * 1024;

function cgroupDir(t: { after: (fn: () => void) => void }, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-memcg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

test("a memory limit of berth's own cgroup bounds what is available: its limit less its working set (reclaimable cache not counted)", (t) => {
  const v2 = cgroupDir(t, {
    'memory.max': `${1024 * MB}\n`,
    'memory.current': `${600 * MB}\n`,
    'memory.stat': `anon 1\ninactive_file ${100 * MB}\nactive_file 5\n`,
  });
  assert.equal(availableMemoryBytes({ version: 2, dir: v2 }), 524 * MB);
  const v1 = cgroupDir(t, {
    'memory.limit_in_bytes': `${512 * MB}\n`,
    'memory.usage_in_bytes': `${500 * MB}\n`,
    'memory.stat': `cache 9\ntotal_inactive_file ${50 * MB}\n`,
  });
  assert.equal(availableMemoryBytes({ version: 1, dir: v1 }), 62 * MB);
});

test("an unlimited cgroup, or none, leaves the machine's available memory", (t) => {
  const machine = availableMemoryBytes(undefined);
  assert.ok(machine !== undefined && machine > 0);
  const v2 = cgroupDir(t, { 'memory.max': 'max\n', 'memory.current': '1\n', 'memory.stat': '' });
  const v1 = cgroupDir(t, { 'memory.limit_in_bytes': '9223372036854771712\n', 'memory.usage_in_bytes': '1\n', 'memory.stat': '' });
  for (const cgroup of [
    { version: 2 as const, dir: v2 },
    { version: 1 as const, dir: v1 },
  ]) {
    const seen = availableMemoryBytes(cgroup) as number;
    // The machine's figure moves between readings; an unlimited cgroup must not shrink it to nothing.
    assert.ok(Math.abs(seen - machine) < 512 * MB, `${seen} vs ${machine}`);
  }
});
