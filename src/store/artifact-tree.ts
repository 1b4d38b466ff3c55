import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { isAbsolute, join, normalize, posix } from 'node:path';
import { BerthError } from '../core/errors.ts';

/** What the artifact store does to the trees it keeps: links placed safely, modes sealed, sizes measured, ids spelt. */

/** True when a symbolic link at `path` names something outside the artifact: an absolute path, or one that climbs out. */
export function pointsOutward(path: string, target: string): boolean {
  if (target.startsWith('/')) return true;
  const resolved = posix.normalize(posix.join(posix.dirname(posix.normalize(path)), target));
  return resolved === '..' || resolved.startsWith('../');
}

/**
 * Makes a symbolic link at `path` inside `root`. The link's own place must be inside the artifact and reached
 * through real directories only (never through another link), as tar checks for the entries it writes; the
 * target is stored as given and never followed here.
 */
export function placeLink(root: string, path: string, target: string): void {
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
export function sealTree(dir: string): void {
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
export function measureTree(dir: string): { files: number; bytes: number } {
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

export function unsealTree(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) unsealTree(join(dir, entry.name));
  }
}

/** RFC 4648 base32 in lower case, unpadded: the letters artifact ids are made of. */
export function base32(bytes: Buffer): string {
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
