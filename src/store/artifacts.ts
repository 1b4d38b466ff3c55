import { createHash } from 'node:crypto';
import { chmodSync, closeSync, createWriteStream, existsSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { c as pack, x as extract, type ReadEntry } from 'tar';
import { BerthError } from '../core/errors.ts';
import { randomId } from '../core/ids.ts';
import { sweepDirectories, type Swept } from '../core/sweep.ts';
import type { ArtifactArchive } from './artifact-archive.ts';
import { base32, measureTree, placeLink, pointsOutward, sealTree, unsealTree } from './artifact-tree.ts';
import type { ArtifactRecord } from './store.ts';

/** Entry types an artifact may hold; devices, fifos and the like are dropped. */
const KEPT_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);
const MAX_FILES = 200_000;
/** An upload unpacks under this name beside the store, and is renamed into place only when whole. */
const STAGING_PREFIX = '.incoming-';
/** How much larger than its upload an artifact may unpack to: compressed code rarely shrinks more than this. */
const MAX_UNPACK_RATIO = 4;
/** What an artifact id may be: berth's own ids, whose letters are base32's. */
const ARTIFACT_ID = /^art_[a-z2-7]+$/;

function notFound(id: string): BerthError {
  return new BerthError('artifact_not_found', `artifact ${id} does not exist; upload the code with POST /v1/artifacts first`);
}

/**
 * Artifacts: the code directories runtime versions run, unpacked under `<dir>/<id>` and never changed again.
 * An upload is a tar stream (gzip optional); it is unpacked beside the store and moved into place only when whole,
 * so a failed or oversized upload leaves nothing behind. Every file is made readable by sandbox uids (they run as
 * "others"), and write bits are removed: versions are immutable.
 */
export class ArtifactStore {
  readonly #dir: string;
  readonly #archive: ArtifactArchive | undefined;
  /** Fetches from the cluster's archive under way, by artifact id. */
  readonly #fetching = new Map<string, Promise<void>>();

  /** `archive`, on a node of a cluster: where every artifact's archive is kept for the other nodes. */
  constructor(dir: string, archive?: ArtifactArchive) {
    this.#dir = dir;
    this.#archive = archive;
    // 0711: sandbox uids may traverse to an artifact they are given, not list the others.
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o711);
  }

  /** Removes the staging directories of uploads an unclean stop cut short; run at start, before any upload. */
  sweepStaging(): Swept {
    return sweepDirectories(this.#dir, STAGING_PREFIX);
  }

  path(id: string): string {
    return join(this.#dir, id);
  }

  exists(id: string): boolean {
    return ARTIFACT_ID.test(id) && existsSync(this.path(id));
  }

  /**
   * Unpacks an uploaded archive into an artifact named by its bytes' digest: the same upload through any node, or
   * twice, is the same artifact, kept once. On a node of a cluster the archive is also kept in the cluster's
   * store, from where every other node fetches it when it first needs the artifact.
   */
  async receive(body: Readable, maxBytes: number): Promise<ArtifactRecord> {
    // The bytes as they came are kept in a staging directory of their own (swept at start, like the others).
    const spoolDir = this.#archive && this.#stagingDir('keep');
    const spool = spoolDir && join(spoolDir, 'upload');
    try {
      const unpacked = await this.#unpack(
        body,
        { maxBytes, maxUnpacked: maxBytes * MAX_UNPACK_RATIO, spool },
        (digest) => `art_${base32(digest).slice(0, 32)}`,
      );
      if (spool) await this.#archive?.put(unpacked.record.id, unpacked.sha256, spool);
      return unpacked.record;
    } finally {
      if (spoolDir) rmSync(spoolDir, { recursive: true, force: true });
    }
  }

  /**
   * Makes sure artifact `id` is on this node: unpacked already, or fetched from the cluster's archive, checked
   * against its digest and unpacked now (once, however many ask at once). `artifact_not_found` when neither has it.
   */
  async ensure(id: string): Promise<void> {
    if (this.exists(id)) return;
    const archive = this.#archive;
    if (!archive || !ARTIFACT_ID.test(id)) throw notFound(id);
    let fetching = this.#fetching.get(id);
    if (!fetching) {
      fetching = (async () => {
        const kept = await archive.get(id);
        if (!kept) throw notFound(id);
        // Made by a node of this cluster from an upload it checked, and checked here against its digest: the
        // upload's limits are not applied again (an installed package unpacks well past four times its archive).
        await this.#unpack(kept.body, { maxBytes: kept.bytes, maxUnpacked: Infinity, sha256: kept.sha256 }, () => id);
      })().finally(() => this.#fetching.delete(id));
      this.#fetching.set(id, fetching);
    }
    await fetching;
  }

  /**
   * Unpacks a tar stream (gzip optional) into the artifact `name` gives for its bytes' digest, or leaves the one in
   * place of that name: beside the store first, and moved into place only when whole. `spool` keeps the bytes as
   * they came; `sha256` is what they must hash to.
   */
  async #unpack(
    body: Readable,
    limits: { maxBytes: number; maxUnpacked: number; spool?: string | undefined; sha256?: string },
    name: (digest: Buffer) => string,
  ): Promise<{ record: ArtifactRecord; sha256: string }> {
    const { maxBytes, maxUnpacked } = limits;
    const staging = join(this.#dir, `${STAGING_PREFIX}${randomId('up', 16)}`);
    const digest = createHash('sha256');
    mkdirSync(staging, { mode: 0o700 });
    const spool = limits.spool === undefined ? undefined : openSync(limits.spool, 'w', 0o600);
    let bytes = 0;
    let files = 0;
    let unpacked = 0;
    let refused: string | undefined;
    // Symbolic links that point outside the artifact (`/usr/bin/env`, `../shared`) mean something only inside the
    // sandbox, where they resolve against the sandbox's own root; tar refuses them, so berth makes them itself.
    const outwardLinks: Array<{ path: string; target: string }> = [];
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        digest.update(chunk);
        if (bytes > maxBytes) {
          done(new BerthError('body_too_large', `artifact is larger than the ${maxBytes}-byte limit (BERTH_MAX_ARTIFACT_BYTES)`));
          return;
        }
        if (spool !== undefined) writeSync(spool, chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(
        body,
        counter,
        extract({
          cwd: staging,
          strict: true,
          preserveOwner: false,
          filter: (path: string, entry: ReadEntry | unknown) => {
            const type = (entry as ReadEntry).type;
            if (!KEPT_TYPES.has(type)) return false;
            const target = (entry as ReadEntry).linkpath ?? '';
            if (type === 'SymbolicLink' && pointsOutward(path, target)) {
              outwardLinks.push({ path, target });
              return false;
            }
            if (++files > MAX_FILES) refused ??= `artifact holds more than ${MAX_FILES} files`;
            // Counted before the entry is written, so a small archive that unpacks to a huge tree fills no disk.
            unpacked += (entry as ReadEntry).size ?? 0;
            if (unpacked > maxUnpacked) {
              refused ??= `artifact unpacks to more than ${maxUnpacked} bytes (${MAX_UNPACK_RATIO} times BERTH_MAX_ARTIFACT_BYTES)`;
            }
            return refused === undefined;
          },
        }),
      );
      if (refused) throw new BerthError('validation_failed', refused);
      const hash = digest.digest();
      const sha256 = hash.toString('hex');
      if (limits.sha256 !== undefined && sha256 !== limits.sha256) {
        throw new BerthError(
          'internal',
          `the cluster's archive of an artifact does not match its digest (${sha256} is not ${limits.sha256}); deploy its code again`,
        );
      }
      for (const link of outwardLinks) placeLink(staging, link.path, link.target);
      const id = name(hash);
      const record = { id, bytes, files, createdAt: new Date().toISOString() };
      if (existsSync(this.path(id))) {
        // Unpacked before: the artifact in place is these very bytes.
        rmSync(staging, { recursive: true, force: true });
        return { record, sha256 };
      }
      sealTree(staging);
      renameSync(staging, this.path(id));
      chmodSync(this.path(id), 0o555);
      return { record, sha256 };
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      if (error instanceof BerthError) throw error;
      throw new BerthError('validation_failed', `artifact upload is not a readable tar archive: ${(error as Error).message}`, { cause: error });
    } finally {
      if (spool !== undefined) closeSync(spool);
    }
  }

  /**
   * An artifact made by `fill`, which writes the code into the fresh staging directory it is given (beside the
   * store, so the start-up sweep removes it if berth stops meanwhile). The tree is sealed and moved into place only
   * when `fill` succeeds and it holds at most `maxBytes` of files; otherwise nothing of it is left.
   */
  async build(fill: (dir: string) => Promise<void>, maxBytes: number): Promise<ArtifactRecord> {
    const id = randomId('art', 16);
    const staging = join(this.#dir, `${STAGING_PREFIX}${id}`);
    mkdirSync(staging, { mode: 0o700 });
    try {
      await fill(staging);
      const { files, bytes } = measureTree(staging);
      if (files > MAX_FILES) throw new BerthError('validation_failed', `artifact holds more than ${MAX_FILES} files`);
      if (bytes > maxBytes) throw new BerthError('validation_failed', `artifact holds more than ${maxBytes} bytes (BERTH_MAX_ARTIFACT_BYTES)`);
      sealTree(staging);
      renameSync(staging, this.path(id));
      chmodSync(this.path(id), 0o555);
      if (this.#archive) await this.keep(id);
      return { id, bytes, files, createdAt: new Date().toISOString() };
    } catch (error) {
      // Sealing may have begun before the failure: what is read-only is opened again so that all of it goes.
      if (existsSync(staging)) unsealTree(staging);
      rmSync(staging, { recursive: true, force: true });
      throw error;
    }
  }

  /** Packs artifact `id` as it lies (a gzipped tar) into the cluster's archive (`berth store copy` too). */
  async keep(id: string): Promise<void> {
    if (!this.exists(id)) throw notFound(id);
    const packDir = this.#stagingDir('pack');
    const file = join(packDir, 'archive.tgz');
    try {
      const digest = createHash('sha256');
      const hashing = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          digest.update(chunk);
          done(null, chunk);
        },
      });
      await pipeline(pack({ gzip: true, cwd: this.path(id), portable: true }, ['.']), hashing, createWriteStream(file, { mode: 0o600 }));
      await this.#archive?.put(id, digest.digest('hex'), file);
    } finally {
      rmSync(packDir, { recursive: true, force: true });
    }
  }

  /** A fresh staging directory beside the store, which the start-up sweep removes if berth stops meanwhile. */
  #stagingDir(use: string): string {
    const dir = join(this.#dir, `${STAGING_PREFIX}${randomId(use, 16)}`);
    mkdirSync(dir, { mode: 0o700 });
    return dir;
  }

  remove(id: string): void {
    const path = this.path(id);
    if (!existsSync(path)) return;
    unsealTree(path);
    rmSync(path, { recursive: true, force: true });
  }
}
