import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(tmpdir(), `berth-fixtures-${process.pid}`);
const built = new Map<string, Promise<string>>();

/**
 * A deployable directory for the fixture `test/fixtures/<name>.ts`: the fixture bundled with its dependencies into
 * `server.mjs`, so deploying it copies one file instead of a node_modules tree.
 */
export function fixtureDir(name: string): Promise<string> {
  let dir = built.get(name);
  if (!dir) {
    dir = (async () => {
      const out = join(root, name);
      mkdirSync(out, { recursive: true });
      await build({
        entryPoints: [fileURLToPath(new URL(`../fixtures/${name}.ts`, import.meta.url))],
        outfile: join(out, 'server.mjs'),
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node24',
        logLevel: 'silent',
        banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
      });
      return out;
    })();
    built.set(name, dir);
  }
  return dir;
}
