import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { isAbsolute, join, normalize, posix } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { x as extract, type ReadEntry } from 'tar';
import { BerthError } from '../core/errors.ts';
import { randomId } from '../core/ids.ts';
import { sweepDirectories, type Swept } from '../core/sweep.ts';
import type { ArtifactRecord } from './store.ts';

/** Entry types an artifact may hold; devices, fifos and the like are dropped. */
const KEPT_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);
const MAX_FILES = 200_000;
/** An upload unpacks under this name beside the store, and is renamed into place only when whole. */
const STAGING_PREFIX = '.incoming-';
/** How much larger than its upload an artifact may unpack to: compressed code rarely shrinks more than this. */
const MAX_UNPACK_RATIO = 4;

/**
 * Artifacts: the code directories runtime versions run, unpacked under `<dir>/<id>` and never changed again.
 * An upload is a tar stream (gzip optional); it is unpacked beside the store and moved into place only when whole,
 * so a failed or oversized upload leaves nothing behind. Every file is made readable by sandbox uids (they run as
 * "others"), and write bits are removed: versions are immutable.
 */
export class ArtifactStore {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
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
    return /^art_[a-z2-7]+$/.test(id) && existsSync(this.path(id));
  }

  /**
   * Unpacks an uploaded archive into an artifact named by its bytes' digest: the same upload through any node, or
   * twice, is the same artifact, kept once, so a version deployed through one node names code every node that was
   * given it has.
   */
  async receive(body: Readable, maxBytes: number): Promise<ArtifactRecord> {
    const staging = join(this.#dir, `${STAGING_PREFIX}${randomId('up', 16)}`);
    const digest = createHash('sha256');
    mkdirSync(staging, { mode: 0o700 });
    let bytes = 0;
    let files = 0;
    let unpacked = 0;
    const maxUnpacked = maxBytes * MAX_UNPACK_RATIO;
    let refused: string | undefined;
    // Symbolic links that point outside the artifact (`/usr/bin/env`, `../shared`) mean something only inside the
    // sandbox, where they resolve against the sandbox's own root; tar refuses them, so berth makes them itself.
    const outwardLinks: Array<{ path: string; target: string }> = [];
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        digest.update(chunk);
        if (bytes > maxBytes) done(new BerthError('body_too_large', `artifact is larger than the ${maxBytes}-byte limit (BERTH_MAX_ARTIFACT_BYTES)`));
        else done(null, chunk);
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
      for (const link of outwardLinks) placeLink(staging, link.path, link.target);
      const id = `art_${base32(digest.digest()).slice(0, 32)}`;
      if (existsSync(this.path(id))) {
        // Uploaded before: the artifact in place is these very bytes.
        rmSync(staging, { recursive: true, force: true });
        return { id, bytes, files, createdAt: new Date().toISOString() };
      }
      sealTree(staging);
      renameSync(staging, this.path(id));
      chmodSync(this.path(id), 0o555);
      return { id, bytes, files, createdAt: new Date().toISOString() };
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      if (error instanceof BerthError) throw error;
      throw new BerthError('validation_failed', `artifact upload is not a readable tar archive: ${(error as Error).message}`, { cause: error });
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
      return { id, bytes, files, createdAt: new Date().toISOString() };
    } catch (error) {
      // Sealing may have begun before the failure: what is read-only is opened again so that all of it goes.
      if (existsSync(staging)) unsealTree(staging);
      rmSync(staging, { recursive: true, force: true });
      throw error;
    }
  }

  remove(id: string): void {
    const path = this.path(id);
    if (!existsSync(path)) return;
    unsealTree(path);
    rmSync(path, { recursive: true, force: true });
  }
}

/** True when a symbolic link at `path` names something outside the artifact: an absolute path, or one that climbs out. */
function pointsOutward(path: string, target: string): boolean {
  if (target.startsWith('/')) return true;
  const resolved = posix.normalize(posix.join(posix.dirname(posix.normalize(path)), target));
  return resolved === '..' || resolved.startsWith('../');
}

/**
 * Makes a symbolic link at `path` inside `root`. The link's own place must be inside the artifact and reached
 * through real directories only (never through another link), as tar checks for the entries it writes; the
 * target is stored as given and never followed here.
 */
function placeLink(root: string, path: string, target: string): void {
  const relative = normalize(path).replace(/\/+$/, '');
  if (relative === '' || relative === '.' || isAbsolute(relative) || relative === '..' || relative.startsWith('../')) {
    throw new BerthError('validation_failed', `artifact entry ${JSON.stringify(path)} lies outside the artifact; paths must be relative and stay inside it`);
  }
  let dir = root;
  const parts = relative.split('/');
  for (const part of parts.slice(0, -1)) {
    dir = join(dir, part);
    if (!existsSync(dir)) mkdirSync(dir, { mode: 0o755 });
    else if (!lstatSync(dir).isDirectory()) {
      throw new BerthError('validation_failed', `artifact entry ${JSON.stringify(path)} lies under ${JSON.stringify(part)}, which is not a directory`);
    }
  }
  const place = join(root, relative);
  if (existsSync(place) || isLink(place)) {
    if (lstatSync(place).isDirectory()) throw new BerthError('validation_failed', `artifact entry ${JSON.stringify(path)} is both a directory and a link`);
    rmSync(place);
  }
  symlinkSync(target, place);
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Directories 0555, files 0444 or 0555 (any execute bit kept): readable by sandbox uids, writable by no one. */
function sealTree(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) {
      sealTree(path);
      chmodSync(path, 0o555);
    } else {
      chmodSync(path, lstatSync(path).mode & 0o111 ? 0o555 : 0o444);
    }
  }
}

/** Files (links counted as files) and their bytes under `dir`, links not followed; iterative, as a tree's depth is anyone's. */
function measureTree(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const pending = [dir];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    for (const entry of readdirSync(next, { withFileTypes: true })) {
      const path = join(next, entry.name);
      if (entry.isDirectory()) pending.push(path);
      else {
        files++;
        bytes += lstatSync(path).size;
      }
    }
  }
  return { files, bytes };
}

function unsealTree(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) unsealTree(join(dir, entry.name));
  }
}

/** RFC 4648 base32 in lower case, unpadded: the letters artifact ids are made of. */
function base32(bytes: Buffer): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return bits > 0 ? out + alphabet[(value << (5 - bits)) & 31] : out;
}
