import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';

/** statfs's type for tmpfs. */
const TMPFS_MAGIC = 0x01021994;

/**
 * A directory of berth's own on a memory file system (`/dev/shm/berth-<tag>`), for what must never rest on disk:
 * a sandbox's environment (its secrets) as the bundle and the sandbox runtime's state hold it. Undefined when this
 * machine has no tmpfs there. /dev/shm is everyone's: the named directory is taken only when it is a real
 * directory, this process's user's and closed to others. One laid in wait by someone else is left alone (`onTaken`
 * says so) and berth makes one of its own under a random name, removing those earlier runs left.
 */
export function volatileDir(tag: string, onTaken: (message: string) => void = () => {}, base = '/dev/shm'): string | undefined {
  try {
    if (statfsSync(base).type !== TMPFS_MAGIC) return undefined;
  } catch {
    return undefined;
  }
  const dir = join(base, `berth-${tag}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  if (ours(dir)) return dir;
  onTaken(
    `${dir} is not a directory of this user's closed to others (someone else may have made it): berth uses a directory of its own under a random name instead`,
  );
  for (const name of readdirSync(base)) {
    const earlier = join(base, name);
    if (name.startsWith(`berth-${tag}-`) && ours(earlier)) rmSync(earlier, { recursive: true, force: true });
  }
  return mkdtempSync(`${dir}-`);
}

function ours(dir: string): boolean {
  const stat = lstatSync(dir);
  return stat.isDirectory() && stat.uid === process.getuid?.() && (stat.mode & 0o077) === 0;
}
