import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(tmpdir(), `berth-fixtures-${process.pid}`);
const execFileAsync = promisify(execFile);
// Each test file runs in a process of its own; its fixtures go with it.
process.once('exit', () => rmSync(root, { recursive: true, force: true }));
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

const EVERYTHING_VERSION = '2026.8.31';
let everything: Promise<string> | undefined;

/**
 * A deployable directory holding @modelcontextprotocol/server-everything as published, with its dependencies,
 * installed from npm's cache (the package is a dev dependency, so `npm ci` put it there): the server is hosted
 * unchanged, not rebuilt.
 */
export function everythingDir(): Promise<string> {
  everything ??= (async () => {
    const dir = join(root, 'server-everything');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{"name":"everything-artifact","private":true}\n');
    await execFileAsync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--omit=dev', '--loglevel=error', `@modelcontextprotocol/server-everything@${EVERYTHING_VERSION}`], {
      cwd: dir,
    });
    return dir;
  })();
  return everything;
}

/** How to start server-everything inside its sandbox. */
export function everythingCommand(transport: 'stdio' | 'http'): string {
  return `node node_modules/@modelcontextprotocol/server-everything/dist/index.js ${transport === 'http' ? 'streamableHttp' : 'stdio'}`;
}
