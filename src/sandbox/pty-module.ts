import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Where a sandbox sees node-pty's copy (read-only). */
export const PTY_INSIDE = '/opt/berth/pty';
const PACKAGES = ['@lydell/node-pty', `@lydell/node-pty-${process.platform}-${process.arch}`];

/**
 * node-pty (prebuilt, no compiler needed) for the supervisor's shells: copied once under `stateDir`, where a
 * sandbox's user can read it, as `pty/node_modules/…` so that the package finds its platform's binary beside it.
 * Returns that directory, or undefined where npm installed no binary for this platform (sandboxes then have no
 * shells, and say so).
 */
export function placePtyModule(stateDir: string): string | undefined {
  const root = join(stateDir, 'pty');
  const require = createRequire(import.meta.url);
  for (const name of PACKAGES) {
    let source: string;
    try {
      source = dirname(require.resolve(`${name}/package.json`));
    } catch {
      return undefined;
    }
    const target = join(root, 'node_modules', name);
    if (existsSync(join(target, 'package.json'))) continue;
    mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
    cpSync(source, target, { recursive: true, dereference: true });
  }
  return root;
}

/** The path the supervisor requires node-pty by, for a copy placed at `root` (PTY_INSIDE inside a sandbox). */
export function ptyRequirePath(root: string): string {
  return join(root, 'node_modules', '@lydell', 'node-pty');
}

/** node-pty where npm installed it, for sandboxes that see the host's files (the process driver); undefined without a binary. */
export function hostPtyPath(): string | undefined {
  const require = createRequire(import.meta.url);
  try {
    for (const name of PACKAGES) require.resolve(`${name}/package.json`);
    return dirname(require.resolve(`${PACKAGES[0] as string}/package.json`));
  } catch {
    return undefined;
  }
}
