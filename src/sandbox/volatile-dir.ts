import { lstatSync, mkdirSync, statfsSync } from 'node:fs';
import { join } from 'node:path';

/** statfs's type for tmpfs. */
const TMPFS_MAGIC = 0x01021994;

/**
 * A directory of berth's own on a memory file system (`/dev/shm/berth-<tag>`), for what must never rest on disk:
 * a sandbox's environment (its secrets) as the bundle and the sandbox runtime's state hold it. Undefined when this
 * machine has no tmpfs there. /dev/shm is everyone's: a directory found there is taken only when it is a real
 * directory, this process's user's, and closed to others, so nobody can lay one in wait.
 */
export function volatileDir(tag: string, base = '/dev/shm'): string | undefined {
  try {
    if (statfsSync(base).type !== TMPFS_MAGIC) return undefined;
  } catch {
    return undefined;
  }
  const dir = join(base, `berth-${tag}`);
  mkdirSync(dir, { mode: 0o700, recursive: true });
  const stat = lstatSync(dir);
  if (!stat.isDirectory() || stat.uid !== process.getuid?.() || (stat.mode & 0o077) !== 0) {
    throw new Error(`${dir} is not a directory of this user's closed to others; remove it (someone else may have made it) and start berth again`);
  }
  return dir;
}
