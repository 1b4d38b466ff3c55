import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { c as create, Header } from 'tar';
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
  await assert.rejects(
    store.receive(Readable.from([Buffer.from('not a tar archive at all'.repeat(40))]), 1 << 20),
    (e) => isBerthError(e) && e.code === 'validation_failed',
  );
  assert.deepEqual(readdirSync(dir), []);
});

test('refuses an archive that unpacks to more than four times the upload limit (a decompression bomb), writing none of it', async (t) => {
  const src = tempDir(t);
  writeFileSync(join(src, 'zeros'), Buffer.alloc(600_000));
  const dir = join(tempDir(t), 'artifacts');
  const store = new ArtifactStore(dir);
  const archive = create({ gzip: true, cwd: src, portable: true }, ['zeros']) as unknown as Readable;
  await assert.rejects(
    store.receive(archive, 100_000),
    (error) => isBerthError(error) && error.code === 'validation_failed' && /unpacks to more than 400000 bytes/.test(error.message),
  );
  assert.deepEqual(readdirSync(dir), []);
});

interface Entry {
  path: string;
  type: 'File' | 'Directory' | 'SymbolicLink' | 'Link';
  linkpath?: string;
  body?: string;
}

/** A tar archive written block by block, so that entries tar itself would never write can be made. */
function tarOf(entries: Entry[]): Readable {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const body = Buffer.from(entry.body ?? '');
    const header = Buffer.alloc(512);
    new Header({
      path: entry.path,
      type: entry.type,
      linkpath: entry.linkpath ?? '',
      mode: entry.type === 'Directory' ? 0o755 : 0o644,
      size: body.length,
      mtime: new Date(0),
    }).encode(header, 0);
    blocks.push(header, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Readable.from([Buffer.concat(blocks)]);
}

function staged(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith('.incoming-'));
}

function storeIn(t: { after: (fn: () => void) => void }): { store: ArtifactStore; dir: string } {
  const parent = mkdtempSync(join(tmpdir(), 'berth-art-'));
  const dir = join(parent, 'artifacts');
  const store = new ArtifactStore(dir);
  // Artifacts are sealed read-only: unsealed before the directory goes.
  t.after(() => {
    for (const name of readdirSync(dir)) store.remove(name);
    rmSync(parent, { recursive: true, force: true });
  });
  return { store, dir };
}

test('links that point outside the artifact are kept as links, resolved only inside the sandbox', async (t) => {
  const { store, dir } = storeIn(t);
  const record = await store.receive(
    tarOf([
      { path: 'server.js', type: 'File', body: 'ok' },
      { path: 'env-link', type: 'SymbolicLink', linkpath: '/usr/bin/env' },
      { path: 'bin/up', type: 'SymbolicLink', linkpath: '../../outside' },
      { path: 'same', type: 'SymbolicLink', linkpath: 'server.js' },
    ]),
    1024 * 1024,
  );
  const root = store.path(record.id);
  assert.equal(readlinkSync(join(root, 'env-link')), '/usr/bin/env');
  assert.equal(readlinkSync(join(root, 'bin', 'up')), '../../outside');
  assert.equal(readFileSync(join(root, 'same'), 'utf8'), 'ok');
  assert.ok(lstatSync(join(root, 'bin')).isDirectory());
  assert.deepEqual(staged(dir), []);
});

test('entries that would be written outside the artifact, or a hard link to a host file, are refused and leave nothing', async (t) => {
  const { store, dir } = storeIn(t);
  const hostile: Array<[string, Entry[]]> = [
    ['a hard link to an absolute path', [{ path: 'passwd', type: 'Link', linkpath: '/etc/passwd' }]],
    ['a hard link that climbs out', [{ path: 'passwd', type: 'Link', linkpath: '../../etc/passwd' }]],
    ['a link placed above the artifact', [{ path: '../escape', type: 'SymbolicLink', linkpath: '/etc' }]],
    ['a link placed at an absolute path', [{ path: '/escape', type: 'SymbolicLink', linkpath: '/etc' }]],
    ['a file placed above the artifact', [{ path: '../escape.js', type: 'File', body: 'x' }]],
    [
      'a link placed through another link',
      [
        { path: 'etc', type: 'SymbolicLink', linkpath: '/etc' },
        { path: 'etc/evil', type: 'SymbolicLink', linkpath: '/bin/sh' },
      ],
    ],
  ];
  for (const [what, entries] of hostile) {
    await assert.rejects(store.receive(tarOf(entries), 1024 * 1024), (error: unknown) => isBerthError(error) && error.code === 'validation_failed', what);
    assert.deepEqual(staged(dir), [], `${what}: staging left behind`);
  }
  assert.equal(existsSync(join(dir, '..', 'escape')), false);
  assert.equal(existsSync(join(dir, '..', 'escape.js')), false);
});

test('an upload is named by its bytes: the same archive twice is one artifact, another archive another', async (t) => {
  const src = tempDir(t);
  writeFileSync(join(src, 'server.js'), 'console.log(1)');
  const archive = (): Readable => Readable.from([readFileSync(packed)]);
  const packed = join(tempDir(t), 'code.tgz');
  create({ gzip: true, cwd: src, portable: true, file: packed, sync: true }, ['.']);
  const dir = join(tempDir(t), 'artifacts');
  const store = new ArtifactStore(dir);
  const first = await store.receive(archive(), 1 << 20);
  const again = await store.receive(archive(), 1 << 20);
  assert.match(first.id, /^art_[a-z2-7]{32}$/);
  assert.equal(again.id, first.id);
  assert.equal(readdirSync(dir).filter((name) => name.startsWith('art_')).length, 1, 'kept once, nothing staged left');
  assert.equal(readFileSync(join(store.path(first.id), 'server.js'), 'utf8'), 'console.log(1)');
  // The same archive through another node's store is the same artifact there.
  assert.equal((await new ArtifactStore(join(tempDir(t), 'elsewhere')).receive(archive(), 1 << 20)).id, first.id);
  writeFileSync(join(src, 'server.js'), 'console.log(2)');
  const other = await store.receive(create({ gzip: true, cwd: src, portable: true }, ['.']) as unknown as Readable, 1 << 20);
  assert.notEqual(other.id, first.id);
});
