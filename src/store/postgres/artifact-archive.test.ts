import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import pg from 'pg';
import { c as create } from 'tar';
import { postgresUnsupportedReason, startPostgres, type Postgres } from '../../../test/helpers/postgres.ts';
import { isBerthError } from '../../core/errors.ts';
import { ArtifactStore } from '../artifacts.ts';
import { openStore } from '../open-store.ts';
import type { ArtifactArchive } from '../artifact-archive.ts';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-archive-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A small code tree: a file, a nested file, a link out of the artifact, and 2.5 MB so the archive spans chunks. */
function codeTree(t: { after: (fn: () => void) => void }): string {
  const src = tempDir(t);
  mkdirSync(join(src, 'lib'));
  writeFileSync(join(src, 'server.js'), 'console.log("hello")');
  writeFileSync(join(src, 'lib', 'data.bin'), Buffer.from(Array.from({ length: 2_500_000 }, (_, i) => (i * 7919) % 251)));
  symlinkSync('/usr/bin/env', join(src, 'env'));
  return src;
}

const tarOf = (dir: string): Readable => create({ gzip: false, cwd: dir, portable: true }, ['.']) as unknown as Readable;

describe("the cluster's artifact archive on PostgreSQL", { skip: postgresUnsupportedReason() ?? false }, () => {
  let server: Postgres;
  before(async () => {
    server = await startPostgres();
  });
  after(() => server.stop());

  async function archiveAt(t: { after: (fn: () => unknown) => void }, url: string): Promise<ArtifactArchive> {
    const opened = await openStore({ postgresql: url });
    t.after(() => opened.store.close());
    return opened.archive as ArtifactArchive;
  }

  test('code uploaded through one node is fetched by another, checked, and unpacked once; what is not kept is not found', async (t) => {
    const url = await server.database();
    const first = new ArtifactStore(join(tempDir(t), 'artifacts'), await archiveAt(t, url));
    const second = new ArtifactStore(join(tempDir(t), 'artifacts'), await archiveAt(t, url));
    const src = codeTree(t);
    const record = await first.receive(tarOf(src), 10 << 20);
    assert.ok(!second.exists(record.id));
    // Asked for at once by many requests, it is fetched and unpacked once.
    await Promise.all(Array.from({ length: 5 }, () => second.ensure(record.id)));
    const root = second.path(record.id);
    assert.deepEqual(readdirSync(root).sort(), ['env', 'lib', 'server.js']);
    assert.equal(readFileSync(join(root, 'server.js'), 'utf8'), 'console.log("hello")');
    assert.deepEqual(readFileSync(join(root, 'lib', 'data.bin')), readFileSync(join(src, 'lib', 'data.bin')));
    assert.equal(readlinkSync(join(root, 'env')), '/usr/bin/env');
    assert.deepEqual(
      readdirSync(join(root, '..')).filter((name) => name.startsWith('.incoming-')),
      [],
      'no staging left',
    );
    // The same upload through the second node is the same artifact, kept once.
    assert.equal((await second.receive(tarOf(src), 10 << 20)).id, record.id);
    for (const id of ['art_nosuchartifact', '../../etc', 'art_UPPER']) {
      await assert.rejects(second.ensure(id), (error) => isBerthError(error) && error.code === 'artifact_not_found');
    }
    const alone = new ArtifactStore(join(tempDir(t), 'artifacts'));
    await assert.rejects(
      alone.ensure(record.id),
      (error) => isBerthError(error) && error.code === 'artifact_not_found',
      'a node with no cluster fetches nothing',
    );
  });

  test("an archive that no longer matches its digest is refused, and leaves nothing; an installed package's tree travels too", async (t) => {
    const url = await server.database();
    const first = new ArtifactStore(join(tempDir(t), 'artifacts'), await archiveAt(t, url));
    const second = new ArtifactStore(join(tempDir(t), 'artifacts'), await archiveAt(t, url));
    const record = await first.receive(tarOf(codeTree(t)), 10 << 20);
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    t.after(() => db.end());
    // One byte changed in the stored bytes (a disk fault, a hand edit): the digest no longer holds.
    await db.query("UPDATE artifact_chunks SET data = overlay(data placing '\\x00'::bytea from 700000 for 1) WHERE id = $1 AND seq = 1", [record.id]);
    await assert.rejects(second.ensure(record.id), (error) => isBerthError(error) && /does not match its digest/.test(error.message));
    assert.ok(!second.exists(record.id));
    assert.deepEqual(
      readdirSync(join(second.path(record.id), '..')).filter((name) => name.startsWith('.incoming-')),
      [],
    );

    // A tree built on a node (an npm install) is packed into the archive as it lies.
    const built = await first.build(async (dir) => {
      mkdirSync(join(dir, 'node_modules'));
      writeFileSync(join(dir, 'node_modules', 'index.js'), 'module.exports = 1');
    }, 1 << 20);
    await second.ensure(built.id);
    assert.equal(readFileSync(join(second.path(built.id), 'node_modules', 'index.js'), 'utf8'), 'module.exports = 1');
  });
});
