import { cpSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(tmpdir(), `berth-fixtures-${process.pid}`);
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

/**
 * A deployable directory for a fixture whose dependencies load packages at run time by a `require` a bundle cannot
 * follow (`bedrock-agentcore`'s app requires its fastify plugins through `createRequire(import.meta.url)`): the
 * fixture bundled as an ES module, `server.mjs` (with a real `require` for the CommonJS it bundles), beside
 * `node_modules` holding `packages` and what they need at run time. Start it with `node server.mjs`.
 */
export function fixtureDirWith(name: string, packages: readonly string[]): Promise<string> {
  const key = `${name}+${packages.join(',')}`;
  let dir = built.get(key);
  if (!dir) {
    dir = (async () => {
      const out = join(root, `${name}-with-packages`);
      mkdirSync(out, { recursive: true });
      await build({
        entryPoints: [fileURLToPath(new URL(`../fixtures/${name}.ts`, import.meta.url))],
        outfile: join(out, 'server.mjs'),
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node24',
        logLevel: 'silent',
        banner: { js: "import { createRequire as __fixtureRequire } from 'node:module'; const require = __fixtureRequire(import.meta.url);" },
      });
      // Peers are the bundle's to provide (a plugin's fastify is the one bundled): only what the packages depend on is copied.
      for (const pkg of packages)
        for (const found of runtimeClosure(join(REPO, 'node_modules', pkg), false)) copyPackage(found, join(out, relative(REPO, found)));
      return out;
    })();
    built.set(key, dir);
  }
  return dir;
}

const EVERYTHING = '@modelcontextprotocol/server-everything';
const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const packages = new Map<string, Promise<string>>();

/**
 * A deployable directory holding the npm package `name` as published, with its dependencies, copied from what `npm ci`
 * installed (the package is a dev dependency): the server is hosted unchanged, not rebuilt, and nothing asks npm's
 * registry or its cache, which `npm ci` never fills with the metadata an install needs. The package lands at
 * `node_modules/<name>` in the directory.
 */
export function packageDir(name: string): Promise<string> {
  let dir = packages.get(name);
  if (!dir) {
    dir = (async () => {
      const out = join(root, 'packages', name);
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, 'package.json'), `${JSON.stringify({ name: `${basename(name)}-artifact`, private: true })}\n`);
      for (const pkg of runtimeClosure(join(REPO, 'node_modules', name))) copyPackage(pkg, join(out, relative(REPO, pkg)));
      return out;
    })();
    packages.set(name, dir);
  }
  return dir;
}

/** @modelcontextprotocol/server-everything, deployable (see packageDir). */
export function everythingDir(): Promise<string> {
  return packageDir(EVERYTHING);
}

interface PackageJson {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/**
 * The directories of `pkg` and every package it needs at run time, transitively, each where Node finds it: the
 * nearest `node_modules/<name>` walking up from the directory of the package that needs it. Copied to the same paths
 * relative to the repository, they resolve to each other in the artifact as they do here.
 */
function runtimeClosure(pkg: string, peers = true): string[] {
  const found = new Set<string>();
  const pending = [pkg];
  while (pending.length > 0) {
    const dir = pending.pop() as string;
    if (found.has(dir)) continue;
    found.add(dir);
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
    const needed = new Map<string, boolean>();
    if (peers) for (const name of Object.keys(manifest.peerDependencies ?? {})) needed.set(name, manifest.peerDependenciesMeta?.[name]?.optional === true);
    for (const name of Object.keys(manifest.dependencies ?? {})) needed.set(name, false);
    for (const name of Object.keys(manifest.optionalDependencies ?? {})) needed.set(name, true);
    for (const [name, optional] of needed) {
      const resolved = resolvePackage(dir, name);
      if (resolved !== undefined) pending.push(resolved);
      else if (!optional) throw new Error(`${relative(REPO, dir)} needs ${name}, which is not installed under ${REPO}; run npm ci`);
    }
  }
  return [...found];
}

function resolvePackage(from: string, name: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (basename(dir) !== 'node_modules' && existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === REPO || dir === dirname(dir)) return undefined;
  }
}

/**
 * Copies one package without its own `node_modules` (the packages in there are copied only when needed). A package
 * that is a link to somewhere outside `node_modules` is refused rather than followed; links inside a package are
 * copied as links.
 */
function copyPackage(from: string, to: string): void {
  const real = realpathSync(from);
  if (!real.startsWith(realpathSync(join(REPO, 'node_modules')) + sep))
    throw new Error(`${relative(REPO, from)} is a link to ${real}, outside node_modules; the artifact takes only installed packages`);
  const nested = join(real, 'node_modules');
  cpSync(real, to, { recursive: true, verbatimSymlinks: true, filter: (source) => source !== nested });
}

/** How to start server-everything inside its sandbox. */
export function everythingCommand(transport: 'stdio' | 'http'): string {
  return `node node_modules/@modelcontextprotocol/server-everything/dist/index.js ${transport === 'http' ? 'streamableHttp' : 'stdio'}`;
}
