import { copyFileSync, linkSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * bwrap resolves every bind source as the sandbox's uid, so each directory on the way to a bound path must let
 * "others" traverse it (mode o+x). Returns the first directory that does not, or undefined.
 */
export function untraversableAncestor(path: string): string | undefined {
  let dir = resolve(path);
  const chain: string[] = [];
  for (;;) {
    chain.push(dir);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  for (const ancestor of chain.reverse()) {
    let mode: number;
    try {
      mode = statSync(ancestor).mode;
    } catch {
      return undefined;
    }
    if ((mode & 0o001) === 0) return ancestor;
  }
  return undefined;
}

/**
 * Places `source` at `dir/name` for sandboxes to bind: a hard link when both sit on one filesystem (instant, no
 * space), else a copy, which keeps the mode. An existing file with the same inode, or the same size and mtime, is kept.
 */
export function placeFile(source: string, dir: string, name: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const target = join(dir, name);
  const from = statSync(source);
  try {
    const to = statSync(target);
    if (to.ino === from.ino || (to.size === from.size && to.mtimeMs === from.mtimeMs)) return target;
  } catch {
    // not there yet
  }
  const temp = `${target}.${process.pid}.tmp`;
  rmSync(temp, { force: true });
  try {
    linkSync(source, temp);
  } catch {
    copyFileSync(source, temp);
  }
  renameSync(temp, target);
  return target;
}
