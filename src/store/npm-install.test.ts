import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { isBerthError } from '../core/errors.ts';
import { ArtifactStore } from './artifacts.ts';
import { NpmInstaller, type NpmInstallerOptions } from './npm-install.ts';
import type { ArtifactRecord, Store } from './store.ts';

/**
 * A stand-in for npm: `config get allow-git` answers `ALLOW_GIT`; `install` records its argv, cwd and environment in
 * calls.jsonl beside itself and then runs `BEHAVIOUR` with `dir` (the --prefix) and `spec` (the argument after --).
 */
function fakeNpm(dir: string, behaviour: string, allowGit = 'all'): string {
  const path = join(dir, 'npm');
  writeFileSync(
    path,
    `#!/usr/bin/env node
const fs = require('node:fs');
const path = require('node:path');
const args = process.argv.slice(2);
if (args[0] === 'config') { process.stdout.write(${JSON.stringify(`${allowGit}\n`)}); process.exit(0); }
fs.appendFileSync(path.join(__dirname, 'calls.jsonl'), JSON.stringify({ args, cwd: process.cwd(), env: process.env }) + '\\n');
const dir = args[args.indexOf('--prefix') + 1];
const spec = args[args.indexOf('--') + 1];
const name = spec.lastIndexOf('@') > 0 ? spec.slice(0, spec.lastIndexOf('@')) : spec;
const place = (manifest, files) => {
  const pkg = path.join(dir, 'node_modules', ...name.split('/'));
  fs.mkdirSync(path.join(pkg, 'dist'), { recursive: true });
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name, version: '1.2.3', ...manifest }));
  for (const file of files) fs.writeFileSync(path.join(pkg, file), 'console.log(1)');
  fs.writeFileSync(path.join(dir, 'package.json'), '{}');
};
${behaviour}
`,
  );
  chmodSync(path, 0o755);
  return path;
}

function calls(npm: string): Array<{ args: string[]; cwd: string; env: Record<string, string> }> {
  const file = join(dirname(npm), 'calls.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { args: string[]; cwd: string; env: Record<string, string> });
}

interface Setup {
  installer: NpmInstaller;
  artifacts: ArtifactStore;
  artifactsDir: string;
  recorded: ArtifactRecord[];
  npm: string;
  home: string;
}

function setup(t: { after: (fn: () => void) => void }, behaviour: string, options: Partial<NpmInstallerOptions> & { allowGit?: string } = {}): Setup {
  const root = mkdtempSync(join(tmpdir(), 'berth-npm-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const npm = fakeNpm(root, behaviour, options.allowGit);
  const artifactsDir = join(root, 'artifacts');
  const artifacts = new ArtifactStore(artifactsDir);
  const recorded: ArtifactRecord[] = [];
  const store = { putArtifact: (record: ArtifactRecord) => recorded.push(record) } as unknown as Store;
  const home = join(root, 'npm-home');
  const installer = new NpmInstaller(store, artifacts, {
    command: npm,
    timeoutMs: 20_000,
    env: { PATH: '/usr/bin:/bin', HTTPS_PROXY: 'http://proxy.example:3128' },
    home,
    nodePath: process.execPath,
    maxBytes: 1 << 20,
    ...options,
  });
  return { installer, artifacts, artifactsDir, recorded, npm, home };
}

function rejectsWith(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  return assert.rejects(promise, (error: unknown) => isBerthError(error) && error.code === code && message.test(error.message));
}

test('installs into a sealed artifact, recorded in the store, with npm run safely', async (t) => {
  const { installer, artifacts, artifactsDir, recorded, npm, home } = setup(t, `place({ bin: { 'mcp-server-x': 'dist/index.js' } }, ['dist/index.js']);`);
  const installed = await installer.install({ spec: '@scope/server-x@^1.2', args: ['/workspace', 'two words'] });
  assert.deepEqual(installed.package, { name: '@scope/server-x', version: '1.2.3', bin: 'mcp-server-x' });
  assert.equal(installed.command, "node node_modules/@scope/server-x/dist/index.js /workspace 'two words'");
  assert.deepEqual(recorded, [installed.artifact]);
  assert.deepEqual(readdirSync(artifactsDir), [installed.artifact.id]);
  const root = artifacts.path(installed.artifact.id);
  assert.equal(statSync(root).mode & 0o777, 0o555);
  assert.equal(statSync(join(root, 'node_modules/@scope/server-x/dist/index.js')).mode & 0o777, 0o444);
  assert.ok(installed.artifact.files >= 3 && installed.artifact.bytes > 0);

  const [call] = calls(npm);
  assert.ok(call);
  const args = call.args;
  assert.equal(args[0], 'install');
  for (const flag of [
    '--ignore-scripts',
    '--allow-git=none',
    '--allow-file=none',
    '--allow-directory=none',
    '--allow-remote=none',
    '--omit=dev',
    '--no-audit',
    '--no-fund',
  ]) {
    assert.ok(args.includes(flag), flag);
  }
  assert.deepEqual(args.slice(-2), ['--', '@scope/server-x@^1.2']);
  // The staging directory beside the store, named so the start-up sweep finds it.
  assert.match(call.cwd, /\/artifacts\/\.incoming-art_[a-z2-7]+$/);
  assert.equal(args[args.indexOf('--prefix') + 1], call.cwd);
  // npm's environment: berth's PATH behind berth's own node, the proxy passed on, its own home and cache; nothing else.
  assert.deepEqual(call.env, {
    PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
    HOME: home,
    HTTPS_PROXY: 'http://proxy.example:3128',
    npm_config_cache: join(home, 'cache'),
    npm_config_userconfig: join(home, 'npmrc'),
  });
  assert.equal(statSync(home).mode & 0o777, 0o700);
});

test("a failed install is validation_failed with npm's last lines, host paths hidden, and leaves nothing", async (t) => {
  const { installer, artifactsDir, recorded } = setup(
    t,
    `
fs.mkdirSync(path.join(dir, 'node_modules', 'half'), { recursive: true });
process.stderr.write('npm warn deprecated something\\nnpm error code EINTEGRITY\\nnpm error sha512 mismatch in ' + dir + '/node_modules/half\\nnpm error A complete log of this run can be found in: ' + process.env.HOME + '/cache/_logs/x.log\\n');
process.exit(1);`,
  );
  await assert.rejects(installer.install({ spec: 'server-x@1.0.0' }), (error: unknown) => {
    assert.ok(isBerthError(error));
    assert.equal(error.code, 'validation_failed');
    assert.equal(
      error.message,
      'npm could not install server-x@1.0.0 (it exited with 1):\nnpm error code EINTEGRITY\nnpm error sha512 mismatch in <artifact>/node_modules/half',
    );
    return true;
  });
  assert.deepEqual(readdirSync(artifactsDir), []);
  assert.deepEqual(recorded, []);
});

test('no such package is not_found; a package without a bin, or missing its bin file, is refused; nothing is left', async (t) => {
  const missing = setup(t, `process.stderr.write('npm error code E404\\nnpm error 404 Not Found\\n'); process.exit(1);`);
  await rejectsWith(missing.installer.install({ spec: '@nobody/nothing' }), 'not_found', /registry has no package @nobody\/nothing/);
  const library = setup(t, `place({}, ['index.js']);`);
  await rejectsWith(library.installer.install({ spec: 'ms' }), 'validation_failed', /package ms has no bin/);
  const hollow = setup(t, `place({ bin: 'dist/cli.js' }, []);`);
  await rejectsWith(hollow.installer.install({ spec: 'hollow' }), 'validation_failed', /declares bin "hollow" as dist\/cli\.js, which it does not hold/);
  const several = setup(t, `place({ bin: { a: 'dist/a.js', b: 'dist/b.js' } }, ['dist/a.js', 'dist/b.js']);`);
  await rejectsWith(several.installer.install({ spec: 'pkg' }), 'validation_failed', /several bins: a, b/);
  assert.equal((await several.installer.install({ spec: 'pkg', bin: 'b' })).command, 'node node_modules/pkg/dist/b.js');
  for (const s of [missing, library, hollow]) {
    assert.deepEqual(readdirSync(s.artifactsDir), []);
    assert.deepEqual(s.recorded, []);
  }
});

test('a hostile spec, or an argument with NUL, never runs npm', async (t) => {
  const { installer, npm, artifactsDir } = setup(t, `place({ bin: 'x.js' }, ['x.js']);`);
  for (const spec of ['--registry=http://evil', 'file:../x', 'git+https://evil/x.git', 'a b', '../../etc', '@scope/', 'x'.repeat(300), 'pkg@$(id)']) {
    await rejectsWith(installer.install({ spec }), 'validation_failed', /is not an npm package/);
  }
  await rejectsWith(installer.install({ spec: 'pkg', args: ['ok', 'a\0b'] }), 'validation_failed', /NUL/);
  assert.deepEqual(calls(npm), []);
  assert.deepEqual(readdirSync(artifactsDir), []);
});

test('an installed tree larger than the artifact limit is refused and leaves nothing', async (t) => {
  const { installer, artifactsDir, recorded } = setup(t, `place({ bin: 'x.js' }, ['x.js']); fs.writeFileSync(path.join(dir, 'big'), Buffer.alloc(4096));`, {
    maxBytes: 1024,
  });
  await rejectsWith(installer.install({ spec: 'big' }), 'validation_failed', /holds more than 1024 bytes \(BERTH_MAX_ARTIFACT_BYTES\)/);
  assert.deepEqual(readdirSync(artifactsDir), []);
  assert.deepEqual(recorded, []);
});

test('an install past its timeout is killed with what it started, and leaves nothing; a third at once is refused', async (t) => {
  const { installer, artifactsDir, npm } = setup(
    t,
    `const child = require('node:child_process').spawn('sleep', ['60'], { stdio: 'ignore' });
fs.writeFileSync(path.join(__dirname, 'child-' + child.pid), '');
fs.mkdirSync(path.join(dir, 'node_modules'));
setTimeout(() => {}, 60_000);`,
    { timeoutMs: 1500 },
  );
  const slow = [installer.install({ spec: 'slow-a' }), installer.install({ spec: 'slow-b' })];
  await rejectsWith(installer.install({ spec: 'third' }), 'overloaded', /already installing 2 packages/);
  // Both are awaited at once: they time out together, and one left waiting while the other is awaited would be an
  // unhandled rejection, which fails the test run.
  await Promise.all(slow.map((install) => rejectsWith(install, 'validation_failed', /did not install slow-. within 1500 ms \(BERTH_NPM_TIMEOUT_MS\)/)));
  assert.deepEqual(readdirSync(artifactsDir), []);
  const children = readdirSync(dirname(npm))
    .filter((name) => name.startsWith('child-'))
    .map((name) => Number(name.slice('child-'.length)));
  assert.equal(children.length, 2);
  for (const pid of children) assert.equal(running(pid), false, `process ${pid} that npm started still runs`);
});

/** True while `pid` runs: a killed process whose parent is gone may stay a zombie until init reaps it. */
function running(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

test('an install whose requester goes away is stopped', async (t) => {
  const { installer, artifactsDir } = setup(t, `fs.mkdirSync(path.join(dir, 'node_modules')); setTimeout(() => {}, 60_000);`);
  const controller = new AbortController();
  const install = installer.install({ spec: 'slow' }, controller.signal);
  setTimeout(() => controller.abort(), 300);
  await rejectsWith(install, 'invalid_request', /client went away/);
  assert.deepEqual(readdirSync(artifactsDir), []);
});

test('an npm that cannot refuse git, file and URL dependencies, or no npm at all, is a clear error', async (t) => {
  const old = setup(t, `place({ bin: 'x.js' }, ['x.js']);`, { allowGit: 'undefined' });
  await rejectsWith(old.installer.install({ spec: 'pkg' }), 'internal', /cannot refuse git, file and URL dependencies.*BERTH_NPM/);
  assert.deepEqual(calls(old.npm), []);
  const none = setup(t, '', { command: '/nonexistent/npm' });
  await rejectsWith(none.installer.install({ spec: 'pkg' }), 'internal', /berth cannot run npm \(\/nonexistent\/npm\).*BERTH_NPM/);
  assert.deepEqual(readdirSync(none.artifactsDir), []);
});
