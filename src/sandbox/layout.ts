import { chmodSync, chownSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A sandbox's private host directories under the driver's state directory: `home` (the writable workspace the
 * server sees as HOME) and `run` (a stdio server's FIFOs), both the sandbox uid's, and `root` itself, berth's alone,
 * which holds the channel socket (`channelSocket`). All go when the sandbox ends.
 */
export class SandboxDirs {
  readonly root: string;
  readonly home: string;
  readonly run: string;
  readonly channelSocket: string;
  #owner: { uid: number; gid: number } | undefined;

  readonly #stateDir: string;

  constructor(stateDir: string, id: string) {
    this.#stateDir = stateDir;
    this.root = join(stateDir, id);
    this.home = join(this.root, 'home');
    this.run = join(this.root, 'run');
    this.channelSocket = join(this.root, CHANNEL_SOCKET_NAME);
  }

  /**
   * With an owner, `root` is left traversable (0711) so the owner's bwrap can reach what is in it by path. A driver
   * whose sandboxes keep their workspace and run directory inside (bwrap's are bounded tmpfs mounts) asks for `root`
   * alone (`only root`): nothing of the sandbox's own then lands on the host's disk.
   */
  create(owner?: { uid: number; gid: number }, only?: 'only root'): void {
    mkdirSync(this.root, { mode: 0o700 });
    this.#owner = owner;
    if (owner) chmodSync(this.root, 0o711);
    if (only) return;
    mkdirSync(this.home, { mode: 0o700 });
    mkdirSync(this.run, { mode: 0o700 });
    if (owner) {
      chownSync(this.home, owner.uid, owner.gid);
      chownSync(this.run, owner.uid, owner.gid);
    }
  }

  /**
   * Puts the server's environment in `run` for the supervisor, whose own environment is empty, to give the commands
   * it runs. It is exactly what the server was started with, whatever the server later does to its own memory.
   */
  writeServerEnv(env: Record<string, string>): void {
    const path = join(this.run, ENV_FILE_NAME);
    writeFileSync(path, JSON.stringify(env), { mode: 0o600 });
    if (this.#owner) chownSync(path, this.#owner.uid, this.#owner.gid);
  }

  /** The same directories under sandbox `id`'s name (a socket bound in them stays reachable at its new path). */
  renamed(id: string): SandboxDirs {
    const moved = new SandboxDirs(this.#stateDir, id);
    renameSync(this.root, moved.root);
    moved.#owner = this.#owner;
    return moved;
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** Every sandbox's id, and so its private directory's name, starts with this (ids are `randomId('sbx')`). */
export const SANDBOX_DIR_PREFIX = 'sbx_';

/** The server's environment's file name in `run` (see SupervisorSpec.envPath). */
export const ENV_FILE_NAME = 'env.json';

/** The channel socket's file name in `root`; short, so host paths stay under the 108-byte socket path limit. */
const CHANNEL_SOCKET_NAME = 'c.sock';
