import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../src/cli/api-client.ts';
import { packDirectory } from '../../src/cli/pack.ts';
import type { DeployRequest } from '../../src/core/runtime-spec.ts';
import { ownCgroupDir } from '../../src/sandbox/cgroups.ts';

export const BIN = fileURLToPath(new URL('../../bin/berth', import.meta.url));
export const SESSION_HEADER = 'x-amzn-bedrock-agentcore-runtime-session-id';

export interface BerthNode {
  url: string;
  home: string;
  /** The admin key berth made at its first start. */
  adminKey: string;
  /** The typed `/v1` client, with the admin key. */
  api: ApiClient;
  /** `fetch` of a path of berth's control API, with the admin key. */
  admin(path: string, init?: RequestInit): Promise<Response>;
  process: ChildProcess;
  /** Everything berth logged so far. */
  logs(): string;
  /** Stops berth at once (SIGINT: a SIGTERM would drain first, waiting for work a test left) and waits for it to exit. */
  stop(): Promise<number | null>;
}

export interface StartOptions {
  driver?: 'bwrap' | 'gvisor' | 'process';
  env?: Record<string, string>;
  home?: string;
  /**
   * The admin key the test uses; unset, the one the node made in its home. A node whose store another node made
   * (a cluster) makes none: give it a key the cluster holds.
   */
  adminKey?: string;
  /** The port to listen on; unset, a free one the node picks. */
  port?: number;
}

const UID_CLAIMS = join(tmpdir(), 'berth-test-uid-ranges');
const UID_RANGES = 10_000;

/**
 * A range of 1000 sandbox uids no other berth node of any test process uses: two nodes sharing uids would see (and
 * clean up) each other's sandboxes. A claim is a file named for the range holding its owner's pid; a claim whose
 * owner is gone is stale and taken over.
 */
function claimUidRange(): number {
  mkdirSync(UID_CLAIMS, { recursive: true });
  const first = (process.pid * 7) % UID_RANGES;
  for (let i = 0; i < UID_RANGES; i++) {
    const range = (first + i) % UID_RANGES;
    const claim = join(UID_CLAIMS, String(range));
    try {
      writeFileSync(claim, String(process.pid), { flag: 'wx' });
      return 300_000 + range * 1000;
    } catch {
      if (ownerAlive(claim)) continue;
      rmSync(claim, { force: true });
      i--;
    }
  }
  throw new Error('no free sandbox uid range for a test berth node');
}

function ownerAlive(claim: string): boolean {
  try {
    process.kill(Number(readFileSync(claim, 'utf8')), 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function releaseUidRange(base: number): void {
  rmSync(join(UID_CLAIMS, String((base - 300_000) / 1000)), { force: true });
}

/** The cgroup parents a node on `home` made (bwrap's, and gVisor's), with the empty cgroups of its sandboxes. */
function removeCgroupParents(home: string): void {
  // Each driver names its parents after its state directory in the home (src/server.ts).
  const names = [
    ['sandboxes', 'berth-'],
    ['gvisor', 'berth-g'],
  ]
    .filter(([dir]) => existsSync(join(home, dir as string)))
    .map(
      ([dir, prefix]) =>
        `${prefix}${createHash('sha256')
          .update(realpathSync(join(home, dir as string)))
          .digest('hex')
          .slice(0, 10)}`,
    );
  for (const controller of ['memory', 'pids', 'cpu', 'cpuacct'] as const) {
    const own = ownCgroupDir(controller);
    if (!own) continue;
    for (const parent of names.map((name) => join(own.dir, name))) {
      if (!existsSync(parent)) continue;
      for (const entry of readdirSync(parent, { withFileTypes: true })) if (entry.isDirectory()) removeCgroup(join(parent, entry.name));
      removeCgroup(parent);
    }
  }
}

/** Removes an empty cgroup, waiting (at most 5 s) for the processes of a killed sandbox to finish leaving it. */
function removeCgroup(dir: string): void {
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      rmdirSync(dir);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EBUSY' || Date.now() > deadline) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

/**
 * Starts a real berth node (`bin/berth serve`) on an ephemeral port with its own home and sandbox uid range, and
 * resolves when it logs that it listens.
 */
export async function startBerth(options: StartOptions = {}): Promise<BerthNode> {
  const home = options.home ?? mkdtempSync(join(tmpdir(), 'berth-test-'));
  chmodSync(home, 0o711);
  const uidBase = claimUidRange();
  const child = spawn(process.execPath, [BIN, 'serve', '--port', String(options.port ?? 0), '--home', home, '--driver', options.driver ?? 'bwrap'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', BERTH_SANDBOX_UID_BASE: String(uidBase), BERTH_SANDBOX_UID_COUNT: '1000', ...options.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let logs = '';
  const starting = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`berth did not start within 20 s:\n${logs}`));
    }, 20_000);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      logs += chunk;
      const match = /berth listening on (http:\/\/\S+)/.exec(logs);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`berth exited with ${code} before listening:\n${logs}`));
    });
  });
  // A node that did not start leaves no home behind (one the test gave stays the test's).
  const url = await starting.catch((error: unknown) => {
    if (!options.home) rmSync(home, { recursive: true, force: true });
    throw error;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let adminKey = options.adminKey;
  try {
    adminKey ??= readFileSync(join(home, 'keys', 'admin-key'), 'utf8').trim();
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    if (!options.home) rmSync(home, { recursive: true, force: true });
    releaseUidRange(uidBase);
    throw new Error(`berth made no admin key in its home (its store has one already?): pass startBerth an adminKey\n${logs}`, { cause: error });
  }
  return {
    url,
    home,
    adminKey,
    api: new ApiClient(url, adminKey),
    admin: (path, init = {}) => {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${adminKey}`);
      return fetch(`${url}${path}`, { ...init, headers });
    },
    process: child,
    logs: () => logs,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      const code = await exited;
      // A node killed outright (kill -9) never removed its cgroup parents; a start on its home would.
      if (child.signalCode === 'SIGKILL') removeCgroupParents(home);
      if (!options.home) rmSync(home, { recursive: true, force: true });
      releaseUidRange(uidBase);
      return code;
    },
  };
}

/** A deploy's settings as `/v1` names them (the runtime model's own type), its artifact and command made here. */
export type DeployOptions = Partial<DeployRequest>;

/** Deploys a directory through the `/v1` API, as `berth deploy` does. */
export async function deploy(node: BerthNode, name: string, dir: string, options: DeployOptions = {}): Promise<number> {
  const transport = options.transport ?? 'stdio';
  const { artifactId } = await node.api.uploadArtifact(packDirectory(dir));
  // Every other option is named as the API names it.
  const { command, env, ...rest } = options;
  const body: DeployRequest = { ...rest, artifactId, command: command ?? `node server.js ${transport}`, transport, env: env ?? {} };
  return (await node.api.deploy(name, body)).version;
}
