import { lstatSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** What a sweep removed: how many directories, and how many bytes of files they held. */
export interface Swept {
  count: number;
  bytes: number;
}

/**
 * Removes every directory directly in `dir` whose name starts with `prefix`: what berth leaves while it works
 * (staging directories, sandboxes' private directories) and an unclean stop leaves behind for good. Run at start,
 * before anything new is made there; a `dir` that does not exist holds nothing.
 */
export function sweepDirectories(dir: string, prefix: string): Swept {
  const swept: Swept = { count: 0, bytes: 0 };
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return swept;
  }
  for (const entry of entries) {
    if (!entry.isDirectory() || !entry.name.startsWith(prefix)) continue;
    const path = join(dir, entry.name);
    swept.bytes += treeBytes(path);
    rmSync(path, { recursive: true, force: true, maxRetries: 3 });
    swept.count++;
  }
  return swept;
}

/** Bytes of the files under `path`, links not followed; iterative, as a tree's depth is anyone's. */
function treeBytes(path: string): number {
  let bytes = 0;
  const pending = [path];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    try {
      const stat = lstatSync(next);
      if (stat.isDirectory()) for (const name of readdirSync(next)) pending.push(join(next, name));
      else bytes += stat.size;
    } catch {
      // gone already, or unreadable: counted as nothing
    }
  }
  return bytes;
}
