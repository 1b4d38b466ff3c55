import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BerthError } from '../core/errors.ts';
import type { ArtifactStore } from './artifacts.ts';
import { npmFailure, OutputTail, type NpmEnd } from './npm-output.ts';
import { parseNpmSpec, resolveBin, serverCommand, shellWord, specArgument, type NpmSpec, type PackageBin } from './npm-package.ts';
import type { ArtifactRecord, Store } from './store.ts';

export interface NpmInstallerOptions {
  /** npm: a path, or a name found on `env.PATH`. */
  command: string;
  timeoutMs: number;
  /** All of berth's environment npm gets: PATH, and the proxies and CA certificates the registry is reached through. */
  env: Readonly<Record<string, string>>;
  /** npm's own home: its cache, and its user config `npmrc`, which the operator may write and berth never does. */
  home: string;
  /** The Node berth runs on, put first on npm's PATH so that npm runs on it. */
  nodePath: string;
  /** The most an installed tree may hold, in bytes. */
  maxBytes: number;
}

export interface NpmInstallRequest {
  /** `NAME[@VERSION|@RANGE|@TAG]`. */
  spec: string;
  /** Which of the package's bins to run, when it has several. */
  bin?: string;
  /** The server's own arguments, appended to its command. */
  args?: readonly string[];
}

export interface NpmArtifact {
  artifact: ArtifactRecord;
  package: { name: string; version: string; bin: string };
  /** How to start the server: deploy a runtime of the artifact with this command. */
  command: string;
}

/** Installs at once on one node; more are refused, as an install takes a core and the network for seconds. */
const MAX_INSTALLS = 2;

/**
 * Published servers as artifacts. npm installs a package and its dependencies into a staging directory beside the
 * artifact store; the tree becomes an artifact like an upload (sealed, moved into place only when whole, recorded in
 * the store), and its bin the server's command, which needs no network in the sandbox. npm runs as berth's user, so
 * nothing of a package may run there: no install scripts, no git, file, directory or URL dependencies; its environment is
 * berth's PATH, proxies and CA certificates only, its home and cache are its own under berth's home, and its
 * registry is npm's default unless the operator's `<home>/npm/npmrc` (or npm's global npmrc) names another.
 */
export class NpmInstaller {
  readonly #store: Store;
  readonly #artifacts: ArtifactStore;
  readonly #options: NpmInstallerOptions;
  #running = 0;
  /** Settles when npm is known to refuse the dependency kinds berth forbids. */
  #checked: Promise<void> | undefined;

  constructor(store: Store, artifacts: ArtifactStore, options: NpmInstallerOptions) {
    this.#store = store;
    this.#artifacts = artifacts;
    this.#options = options;
  }

  /** Installs `request.spec` into a new artifact; `signal` (the requester going away) stops npm and keeps nothing. */
  async install(request: NpmInstallRequest, signal?: AbortSignal): Promise<NpmArtifact> {
    const spec = parseNpmSpec(request.spec);
    // Each argument is checked before anything is installed, so that a bad one costs no install.
    for (const arg of request.args ?? []) shellWord(arg);
    if (this.#running >= MAX_INSTALLS) {
      throw new BerthError('overloaded', `this node is already installing ${MAX_INSTALLS} packages; retry once one is done`, { retryAfter: 5 });
    }
    this.#running++;
    try {
      mkdirSync(this.#options.home, { recursive: true, mode: 0o700 });
      await this.#checkNpm();
      let installed: { version: string; bin: PackageBin } | undefined;
      const artifact = await this.#artifacts.build(async (dir) => {
        await this.#installInto(dir, spec, signal);
        installed = readInstalled(dir, spec.name, request.bin);
      }, this.#options.maxBytes);
      const { version, bin } = installed as { version: string; bin: PackageBin };
      await this.#store.putArtifact(artifact);
      return { artifact, package: { name: spec.name, version, bin: bin.name }, command: serverCommand(spec.name, bin, request.args ?? []) };
    } finally {
      this.#running--;
    }
  }

  async #installInto(dir: string, spec: NpmSpec, signal: AbortSignal | undefined): Promise<void> {
    const args = [
      'install',
      '--prefix',
      dir,
      // Install scripts would run as berth's user (root) on the host: none ever runs.
      '--ignore-scripts',
      // Dependencies from git (whose preparation runs npm and scripts), a host path or any URL (berth's own network
      // reach) are refused; only the registry's packages are installed.
      '--allow-git=none',
      '--allow-file=none',
      '--allow-directory=none',
      '--allow-remote=none',
      '--omit=dev',
      '--save-exact',
      '--no-audit',
      '--no-fund',
      '--no-update-notifier',
      '--no-progress',
      '--color=false',
      '--',
      specArgument(spec),
    ];
    const end = await this.#run(args, dir, signal);
    if (end.code === 0 && end.stopped === undefined) return;
    throw npmFailure(spec, end, { [dir]: '<artifact>', [this.#options.home]: '<npm home>' });
  }

  /**
   * An npm too old for the allow-* settings would take them as unknown and install git, file and URL dependencies
   * anyway: such an npm is not run. Asked once; a failed answer is asked again next time.
   */
  #checkNpm(): Promise<void> {
    this.#checked ??= this.#askNpm().catch((error: unknown) => {
      this.#checked = undefined;
      throw error;
    });
    return this.#checked;
  }

  async #askNpm(): Promise<void> {
    const end = await this.#run(['config', 'get', 'allow-git'], this.#options.home);
    // The answer is a line of its own; npm's warnings about the operator's npmrc may come beside it.
    if (end.code === 0 && end.output.split('\n').some((line) => ['all', 'none', 'root'].includes(line.trim()))) return;
    throw new BerthError(
      'internal',
      `berth's npm (${this.#options.command}) cannot refuse git, file and URL dependencies (it has no allow-git setting), so berth does not install with it: point BERTH_NPM at a recent npm 11`,
    );
  }

  /** Runs npm (no shell: every argument reaches it as given) with its bounded output, its timeout and `signal`. */
  #run(args: string[], cwd: string, signal?: AbortSignal): Promise<NpmEnd> {
    const { command, timeoutMs, env, home, nodePath } = this.#options;
    const output = new OutputTail();
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, {
        cwd,
        shell: false,
        // Its own process group, so a timeout ends whatever npm started too.
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...env,
          PATH: `${dirname(nodePath)}:${env.PATH ?? '/usr/bin:/bin'}`,
          HOME: home,
          npm_config_cache: join(home, 'cache'),
          npm_config_userconfig: join(home, 'npmrc'),
        },
      });
      let stopped: NpmEnd['stopped'];
      const stop = (why: NonNullable<NpmEnd['stopped']>): void => {
        stopped ??= why;
        try {
          process.kill(-(child.pid as number), 'SIGKILL');
        } catch {
          // already gone
        }
      };
      const timer = setTimeout(() => stop('timeout'), timeoutMs);
      const onAbort = (): void => stop('aborted');
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted) onAbort();
      child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
      const settle = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      child.once('error', (error) => {
        settle();
        reject(
          new BerthError('internal', `berth cannot run npm (${command}): ${error.message}; install npm on this node or point BERTH_NPM at it`, {
            cause: error,
          }),
        );
      });
      child.once('close', (code) => {
        settle();
        resolve({ code, ...(stopped === undefined ? {} : { stopped }), timeoutMs, output: output.text() });
      });
    });
  }
}

/** The installed package's version and the bin to run, read from its package.json in the staged tree. */
function readInstalled(dir: string, name: string, chosen: string | undefined): { version: string; bin: PackageBin } {
  const packageDir = join(dir, 'node_modules', ...name.split('/'));
  let manifest: unknown;
  try {
    manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  } catch (error) {
    throw new BerthError(
      'validation_failed',
      `npm installed ${name} but its package.json cannot be read: ${(error as Error).message.replaceAll(dir, '<artifact>')}`,
      { cause: error },
    );
  }
  const bin = resolveBin(manifest, name, chosen);
  let isFile = false;
  try {
    isFile = statSync(join(packageDir, bin.path)).isFile();
  } catch {
    // missing: refused below
  }
  if (!isFile)
    throw new BerthError('validation_failed', `package ${name} declares bin "${bin.name}" as ${bin.path}, which it does not hold`, {
      details: { field: 'npm', package: name },
    });
  const version = (manifest as { version?: unknown }).version;
  return { version: typeof version === 'string' ? version : 'unknown', bin };
}
