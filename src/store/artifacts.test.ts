import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { c as create } from 'tar';
import { ArtifactStore } from './artifacts.ts';
import { isBerthError } from '../core/errors.ts';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-art-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('unpacks a gzipped tar, keeps symlinks and exec bits, and seals the tree read-only', async (t) => {
  const src = tempDir(t);
  mkdirSync(join(src, 'lib'));
  writeFileSync(join(src, 'server.js'), 'console.log(1)');
  writeFileSync(join(src, 'run.sh'), '#!/bin/sh', { mode: 0o700 });
  writeFileSync(join(src, 'lib', 'a.txt'), 'a');
  symlinkSync('lib/a.txt', join(src, 'link'));
  const store = new ArtifactStore(join(tempDir(t), 'artifacts'));
  const record = await store.receive(create({ gzip: true, cwd: src, portable: true }, ['.']) as unknown as Readable, 1 << 20);
  const root = store.path(record.id);
  assert.deepEqual(readdirSync(root).sort(), ['lib', 'link', 'run.sh', 'server.js']);
  assert.equal(readFileSync(join(root, 'link'), 'utf8'), 'a');
  assert.equal(statSync(join(root, 'server.js')).mode & 0o777, 0o444);
  assert.equal(statSync(join(root, 'run.sh')).mode & 0o777, 0o555);
  assert.equal(statSync(join(root, 'lib')).mode & 0o777, 0o555);
  assert.ok(record.files >= 4 && record.bytes > 0);
  store.remove(record.id);
  assert.ok(!store.exists(record.id));
});

test('refuses an oversized upload and garbage, leaving nothing behind', async (t) => {
  const src = tempDir(t);
  writeFileSync(join(src, 'big'), Buffer.alloc(200_000, 7));
  const dir = join(tempDir(t), 'artifacts');
  const store = new ArtifactStore(dir);
  await assert.rejects(store.receive(create({ cwd: src }, ['.']) as unknown as Readable, 50_000), (e) => isBerthError(e) && e.code === 'body_too_large');
  await assert.rejects(store.receive(Readable.from([Buffer.from('not a tar archive at all'.repeat(40))]), 1 << 20), (e) => isBerthError(e) && e.code === 'validation_failed');
  assert.deepEqual(readdirSync(dir), []);
});

test('refuses an archive that unpacks to more than four times the upload limit (a decompression bomb), writing none of it', async (t) => {
  const src = tempDir(t);
  writeFileSync(join(src, 'zeros'), Buffer.alloc(600_000));
  const dir = join(tempDir(t), 'artifacts');
  const store = new ArtifactStore(dir);
  const archive = create({ gzip: true, cwd: src, portable: true }, ['zeros']) as unknown as Readable;
  await assert.rejects(store.receive(archive, 100_000), (error) => isBerthError(error) && error.code === 'validation_failed' && /unpacks to more than 400000 bytes/.test(error.message));
  assert.deepEqual(readdirSync(dir), []);
});
