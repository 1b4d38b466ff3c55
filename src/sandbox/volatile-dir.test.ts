import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { volatileDir } from './volatile-dir.ts';

const onTmpfs = volatileDir(`probe-${randomUUID()}`);
if (onTmpfs) rmSync(onTmpfs, { recursive: true, force: true });

test('a directory on /dev/shm, closed to others; none where the base is not tmpfs', { skip: onTmpfs ? false : 'no tmpfs at /dev/shm' }, (t) => {
  const tag = `t-${randomUUID()}`;
  const dir = volatileDir(tag) as string;
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(dir, `/dev/shm/berth-${tag}`);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(volatileDir(tag), dir, 'found again on the next start');
  const disk = mkdtempSync(join(tmpdir(), 'berth-volatile-'));
  t.after(() => rmSync(disk, { recursive: true, force: true }));
  assert.equal(
    volatileDir(tag, () => {}, disk),
    undefined,
  );
});

test('one laid in wait is left alone, and berth uses one of its own under a random name', { skip: onTmpfs ? false : 'no tmpfs at /dev/shm' }, (t) => {
  const linked = `t-${randomUUID()}`;
  const target = mkdtempSync(join('/dev/shm', 'berth-target-'));
  symlinkSync(target, `/dev/shm/berth-${linked}`);
  t.after(() => rmSync(`/dev/shm/berth-${linked}`, { force: true }));
  t.after(() => rmSync(target, { recursive: true, force: true }));
  const said: string[] = [];
  const instead = volatileDir(linked, (message) => said.push(message)) as string;
  t.after(() => rmSync(instead, { recursive: true, force: true }));
  assert.match(instead, new RegExp(`^/dev/shm/berth-${linked}-`));
  assert.equal(statSync(instead).mode & 0o777, 0o700);
  assert.match(said[0] ?? '', /is not a directory of this user's closed to others/);
  assert.deepEqual(readdirSync(target), [], 'nothing went where the link points');

  const open = `t-${randomUUID()}`;
  mkdirSync(`/dev/shm/berth-${open}`);
  chmodSync(`/dev/shm/berth-${open}`, 0o777);
  t.after(() => rmSync(`/dev/shm/berth-${open}`, { recursive: true, force: true }));
  const first = volatileDir(open) as string;
  const second = volatileDir(open) as string;
  t.after(() => rmSync(second, { recursive: true, force: true }));
  assert.notEqual(first, `/dev/shm/berth-${open}`);
  assert.equal(existsSync(first), false, "an earlier run's random directory is removed");
});
