import { DriverSandboxes } from '../driver-sandboxes.ts';
import { hostPtyPath } from '../../pty-module.ts';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { BerthError } from '../../../core/errors.ts';
import type { DriverOptions, Sandbox, SandboxDriver, SandboxSpec } from '../../driver.ts';
import { SANDBOX_DIR_PREFIX, SandboxDirs } from '../../layout.ts';
import { sweepDirectories } from '../../../core/sweep.ts';
import { CHANNEL_FD, openChannelSocket, type ChannelSocket } from '../../channel-socket.ts';
import { LAUNCHER_ARGV, launchEnv, supervisorSpecFor } from '../../launcher.ts';
import { SupervisedSandbox } from '../../supervised.ts';
import { serverEnv } from '../../server-env.ts';

export type ProcessDriverOptions = DriverOptions;

/** Said once when the driver starts, so nobody mistakes it for isolation. */
export const PROCESS_DRIVER_WARNING =
  'driver "process" runs every server as a plain process of berth\'s user: NO isolation between sessions or from this machine; use it for development only';

/**
 * The development driver: the supervisor and the server run as ordinary child processes, with a cleared
 * environment and a private workspace directory as HOME, but the same user, filesystem, network and pid space as
 * berth. The sandbox is its own process group, so stopping it ends the server too. HTTP servers are told a free
 * port through PORT instead of the runtime's own, since they all share the host's ports.
 */
export class ProcessDriver implements SandboxDriver {
  readonly name = 'process';
  readonly isolated = false;
  readonly #options: ProcessDriverOptions;
  readonly #sandboxes = new DriverSandboxes();
  /** node-pty for the sandboxes' shells, when this platform has it. */
  readonly #pty = hostPtyPath();

  constructor(options: ProcessDriverOptions) {
    this.#options = options;
    mkdirSync(options.stateDir, { recursive: true });
    options.logger.warn(PROCESS_DRIVER_WARNING);
    const dirs = sweepDirectories(options.stateDir, SANDBOX_DIR_PREFIX);
    if (dirs.count > 0) options.logger.warn('removed sandbox directories left by an earlier run of berth', { dirs: dirs.count, bytes: dirs.bytes });
  }

  start(spec: SandboxSpec): Promise<Sandbox> {
    return this.#sandboxes.start(() => this.#start(spec));
  }

  async #start(spec: SandboxSpec): Promise<Sandbox> {
    if (spec.network?.mode === 'egress') {
      this.#options.logger.warn("the process driver does not enforce the runtime's egress allowlist: its server has this machine's network", {
        runtime: spec.runtime,
        sandbox: spec.id,
      });
    }
    const dirs = new SandboxDirs(this.#options.stateDir, spec.id);
    dirs.create();
    let launched = false;
    let channel: ChannelSocket | undefined;
    try {
      channel = await openChannelSocket(dirs.channelSocket);
      // Without a network namespace every server shares the host's ports: each gets a free one through PORT.
      const port = spec.transport === 'http' ? await freePort() : spec.port;
      const supervisorSpec = supervisorSpecFor(
        spec,
        dirs.run,
        { fd: CHANNEL_FD },
        {
          port,
          // The server's port moved to a free one on the host; a hook on that port moves with it.
          ...(spec.warmup ? { warmup: { path: spec.warmup.path, port: spec.warmup.port === spec.port ? port : spec.warmup.port } } : {}),
          ...(this.#pty ? { pty: this.#pty } : {}),
        },
      );
      const env = serverEnv({ ...spec, port }, { PATH: `${dirname(this.#options.nodePath)}:/usr/local/bin:/usr/bin:/bin`, HOME: dirs.home }, false);
      dirs.writeServerEnv(env);
      const launch = launchEnv(
        { runDir: dirs.run, node: this.#options.nodePath, supervisor: this.#options.supervisorPath },
        supervisorSpec,
        spec.limits.openFiles,
      );
      const [shell, ...args] = LAUNCHER_ARGV as [string, ...string[]];
      const child = spawn(shell, args, {
        env: { ...env, ...launch },
        cwd: spec.artifactDir,
        stdio: ['ignore', 'pipe', 'pipe', 'ignore', 'ignore', channel.fd],
        detached: true,
      });
      channel.release();
      const pid = child.pid;
      const sandbox = new SupervisedSandbox({
        spec,
        child,
        channel: { socketPath: channel.path },
        logger: this.#options.logger.child({ sandbox: spec.id, runtime: spec.runtime }),
        stats: () => ({ memoryBytes: pid === undefined ? undefined : groupRss(pid) }),
        kill: () => {
          if (pid !== undefined) killSandbox(pid);
        },
        cleanup: async () => {
          if (pid !== undefined) killGroup(pid);
          dirs.remove();
        },
      });
      launched = true;
      this.#sandboxes.launched(sandbox);
      await sandbox.ready();
      return sandbox;
    } catch (error) {
      channel?.release();
      if (!launched) dirs.remove();
      throw error instanceof BerthError
        ? error
        : new BerthError('sandbox_failed', `runtime "${spec.runtime}" could not start: ${(error as Error).message}`, { cause: error });
    }
  }

  async close(): Promise<void> {
    await this.#sandboxes.close();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The sandbox's process group, and the groups of the supervisor's children: each command the supervisor runs is a
 * group of its own (so a timeout ends all it started), which killing the sandbox's group would miss.
 */
function killSandbox(pid: number): void {
  const children = childrenOf(pid);
  killGroup(pid);
  for (const child of children) killGroup(child);
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // the group is gone
  }
}

/** Resident memory of the supervisor and its server (the process driver has no cgroup to ask). */
function groupRss(pid: number): number | undefined {
  try {
    let total = 0;
    for (const p of [pid, ...childrenOf(pid)]) {
      const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (match) total += Number(match[1]) * 1024;
    }
    return total;
  } catch {
    return undefined;
  }
}
