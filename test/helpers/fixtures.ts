import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(tmpdir(), `berth-fixtures-${process.pid}`);
const built = new Map<string, Promise<string>>();

/**
 * A deployable directory for the fixture `test/fixtures/<name>.ts`: the fixture bundled with its dependencies into
 * `server.js`, so deploying it copies one file instead of a node_modules tree.
 */
export function fixtureDir(name: string): Promise<string> {
  let dir = built.get(name);
  if (!dir) {
    dir = (async () => {
      const out = join(root, name);
      mkdirSync(out, { recursive: true });
      await build({
        entryPoints: [fileURLToPath(new URL(`../fixtures/${name}.ts`, import.meta.url))],
        outfile: join(out, 'server.js'),
        bundle: true,
        platform: 'node',
        // CommonJS: an ES-module import of node:http costs ~30 ms per start (it evaluates lazy exports); require does not.
        format: 'cjs',
        target: 'node24',
        logLevel: 'silent',
      });
      return out;
    })();
    built.set(name, dir);
  }
  return dir;
}
