import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError } from '../../../core/errors.ts';
import type { SupervisorStatus } from '../../../core/channel.ts';
import type { SuperviseOnHost } from '../../../core/hosted-server.ts';
import type { IsolatingDriverOptions, Sandbox, SandboxDriver, SandboxSpec } from '../../driver.ts';
import { EGRESS_DIR_INSIDE, openEgress } from '../../egress/open.ts';
import { INSIDE, placeSandboxFiles } from '../../inside.ts';
import { placePtyModule, PTY_INSIDE, ptyRequirePath } from '../../pty-module.ts';
import { SANDBOX_DIR_PREFIX, type SandboxDirs } from '../../layout.ts';
import { sweepDirectories } from '../../../core/sweep.ts';
import { CHANNEL_FD } from '../../channel-socket.ts';
import { closeInheritedFds } from '../../inherited-fds.ts';
import { untraversableAncestor } from '../../host-paths.ts';
import { launchEnv, supervisorSpecFor } from '../../launcher.ts';
import { serverEnv } from '../../server-env.ts';
import { SupervisedSandbox } from '../../supervised.ts';
import { DriverSandboxes } from '../driver-sandboxes.ts';
import { CgroupRoot, type SandboxCgroups } from '../../cgroups.ts';
import { COMPILE_CACHE_INSIDE, makeCompileCache } from './compile-cache.ts';
import { ENV_FD, LaunchSlots, type LaunchSlot } from './launch-slots.ts';
import { SlotFactory } from './slot-factory.ts';
import { buildSeccompFilter, seccompUnsupportedReason } from './seccomp.ts';
import { SYSTEM_VIEW_ARGS } from './system-view.ts';
import { UidPool } from './uids.ts';

/** `stateDir` holds sandboxes' private directories, cgroup tags and the shared `/etc`. */
export interface BwrapDriverOptions extends IsolatingDriverOptions {
  /** The host uids sandboxes run as: `uidCount` of them from `uidBase`. */
  uidBase: number;
  uidCount: number;
  /** Path of the bwrap binary; found on PATH when not given. */
  bwrapPath?: string;
  /**
   * Supervises a stdio MCP server from berth's own process (supervisor/host.ts), so its sandbox runs no supervisor;
   * unset, every sandbox runs its own.
   */
  superviseOnHost?: SuperviseOnHost;
}

/** The socket berth serves a hosted sandbox's channel on, in the sandbox's host directory (out of the sandbox's sight). */
const HOST_CHANNEL_NAME = 'h.sock';

/** Size of the sandbox's private `/run/berth`, which holds only a supervised stdio server's two FIFOs. */
const RUN_BYTES = 1024 * 1024;

/** Where bwrap puts the server's environment (from ENV_FD) in the sandbox's root. */
const ENV_INSIDE = '/opt/berth/env.json';

/**
 * The default driver: bubblewrap. Each sandbox gets every namespace (user, pid, net, ipc, uts, cgroup, mount), runs
 * as its own unprivileged host uid with no capabilities under a seccomp filter, sees read-only system directories,
 * its artifact read-only, a private `/tmp` and workspace, no network but its own loopback, and lives in cgroups that
 * cap its memory, pids and CPU. It dies with berth (`--die-with-parent`).
 */
export class BwrapDriver implements SandboxDriver {
  readonly name = 'bwrap';
  readonly isolated = true;
  readonly #options: BwrapDriverOptions;
  readonly #uids: UidPool;
  readonly #cgroups: CgroupRoot;
  readonly #seccompPath: string;
  readonly #etcDir: string;
  readonly #nodePath: string;
  readonly #supervisorPath: string;
  /** node-pty for the sandboxes' shells, when this platform has it. */
  readonly #pty: string | undefined;
  readonly #sandboxes = new DriverSandboxes();
  readonly #slots: LaunchSlots;
  readonly #factory: SlotFactory;
  /** The supervisor's compiled code for sandboxes to start from; undefined when it could not be made. */
  readonly #compileCache: string | undefined;

  private constructor(options: BwrapDriverOptions, bwrap: string, cgroups: CgroupRoot) {
    this.#options = options;
    this.#cgroups = cgroups;
    this.#uids = new UidPool(options.uidBase, options.uidCount);
    this.#seccompPath = join(options.stateDir, 'seccomp.bpf');
    writeFileSync(this.#seccompPath, buildSeccompFilter(), { mode: 0o644 });
    const files = placeSandboxFiles(options.stateDir, options.nodePath, options.supervisorPath);
    this.#etcDir = files.etc;
    this.#nodePath = files.node;
    this.#supervisorPath = files.supervisor;
    this.#pty = placePtyModule(options.stateDir);
    this.#compileCache = makeCompileCache(options.stateDir, bwrap, files, options.logger);
    this.#factory = new SlotFactory(options.logger);
    this.#slots = new LaunchSlots({
      stateDir: options.stateDir,
      bwrap,
      seccompPath: this.#seccompPath,
      uids: this.#uids,
      cgroups,
      factory: this.#factory,
      logger: options.logger,
      release: (uid, dirs, sandboxCgroups) => this.#release(uid, dirs, sandboxCgroups),
    });
  }

  /** Checks this host can run bwrap sandboxes; throws an Error whose message says exactly what is missing. */
  static unsupportedReason(bwrapPath?: string): string | undefined {
    if (process.platform !== 'linux') return 'bwrap sandboxes need Linux';
    if (process.getuid?.() !== 0) {
      return 'the bwrap driver runs as root: it gives each sandbox its own uid and cgroups (run berth as root, or use --driver process for development)';
    }
    const seccomp = seccompUnsupportedReason();
    if (seccomp) return seccomp;
    if (!findBwrap(bwrapPath)) return 'bubblewrap is not installed: apt-get install -y bubblewrap';
    return undefined;
  }

  static create(options: BwrapDriverOptions): BwrapDriver {
    const reason = BwrapDriver.unsupportedReason(options.bwrapPath);
    if (reason) throw new Error(reason);
    mkdirSync(options.stateDir, { recursive: true, mode: 0o711 });
    const blocked = untraversableAncestor(options.stateDir);
    if (blocked) throw new Error(unreachableMessage(options.stateDir, blocked));
    const tag = createHash('sha256').update(realpathSync(options.stateDir)).digest('hex').slice(0, 10);
    const cgroups = CgroupRoot.open(tag);
    const leaked = closeInheritedFds();
    if (leaked.length > 0) options.logger.info('closed inherited file descriptors so sandboxes cannot reach them', { fds: leaked.join(',') });
    const removed = cgroups.removeStale();
    const dirs = sweepDirectories(options.stateDir, SANDBOX_DIR_PREFIX);
    if (removed.length + dirs.count > 0) {
      options.logger.warn('removed sandboxes left by an earlier run of berth', { cgroups: removed.length, dirs: dirs.count, bytes: dirs.bytes });
    }
    return new BwrapDriver(options, findBwrap(options.bwrapPath) as string, cgroups);
  }

  start(spec: SandboxSpec): Promise<Sandbox> {
    return this.#sandboxes.start(() => this.#start(spec));
  }

  async #start(spec: SandboxSpec): Promise<Sandbox> {
    const { logger } = this.#options;
    const blocked = untraversableAncestor(spec.artifactDir);
    if (blocked) throw new BerthError('sandbox_failed', unreachableMessage(spec.artifactDir, blocked));
    let slot: LaunchSlot | undefined;
    let launched = false;
    let egress: Awaited<ReturnType<typeof openEgress>>;
    let report = (line: string): void => logger.info(line, { sandbox: spec.id });
    try {
      slot = await this.#slots.take();
      const { uid } = slot;
      const { dirs, cgroups, channelPath } = await slot.become(spec.id);
      cgroups.applyLimits(spec.limits);
      egress = await openEgress(spec, join(dirs.root, 'egress'), { uid, gid: uid }, this.#options.berthPorts ?? [], (line) => report(line));
      const supervisorSpec = supervisorSpecFor(
        spec,
        INSIDE.run,
        { fd: CHANNEL_FD },
        {
          envPath: ENV_INSIDE,
          watch: { workspace: INSIDE.home, openFiles: spec.limits.openFiles },
          ...(egress ? { egress: egress.supervisor } : {}),
          ...(this.#pty ? { pty: ptyRequirePath(PTY_INSIDE) } : {}),
        },
      );
      const env = serverEnv(spec, { PATH: INSIDE.path, HOME: INSIDE.home }, true);
      const hosted = this.#hosts(spec);
      const launch = launchEnv(
        { runDir: INSIDE.run, node: INSIDE.node, supervisor: INSIDE.supervisor, ...(this.#compileCache ? { compileCache: COMPILE_CACHE_INSIDE } : {}) },
        supervisorSpec,
        spec.limits.openFiles,
        hosted ? 'hosted' : 'supervised',
      );
      const args = this.#bwrapArgs(spec, dirs, { ...env, ...launch });
      // bwrap reads NUL-separated options: a NUL inside one would smuggle in options of its own.
      if (args.some((arg) => arg.includes('\0')))
        throw new BerthError('sandbox_failed', `runtime "${spec.runtime}" has a NUL character in its environment or paths`);
      // bwrap reads its options from a pipe, so the sandbox's /proc/1/cmdline shows no host paths and a large
      // environment cannot overflow the argument list; only the launcher's fixed command stays on the command line.
      slot.launch(args, JSON.stringify(env), hosted !== undefined);
      const own = slot;
      const hostChannel = join(dirs.root, HOST_CHANNEL_NAME);
      let deliver: (status: SupervisorStatus) => void = () => {};
      const sandbox = new SupervisedSandbox({
        spec,
        child: own.child,
        channel: { socketPath: hosted ? hostChannel : channelPath },
        logger: logger.child({ sandbox: spec.id, runtime: spec.runtime }),
        stats: () => ({ memoryBytes: cgroups.memoryBytes(), cpuSeconds: cgroups.cpuSeconds() }),
        limitCounters: () => cgroups.limitCounters(),
        kill: () => killSandbox(own.child.pid),
        limitHit: () => (cgroups.oomKills() > 0 ? 'memory' : cgroups.pidsLimitHit() ? 'pids' : undefined),
        ...(hosted ? { statuses: (to: typeof deliver) => (deliver = to) } : {}),
        cleanup: async () => {
          supervision?.close();
          egress?.proxy.close();
          await this.#release(uid, dirs, cgroups);
        },
      });
      const supervision = hosted?.({
        spec: supervisorSpec,
        stdin: own.child.stdin!,
        stdout: own.child.stdout!,
        exitStatus: own.said,
        pid: own.child.pid ?? -1,
        channelPath: hostChannel,
        commandsPath: channelPath,
        startCommands: () => own.tell('commands'),
        workspace: (inside) => {
          const init = firstChild(own.child.pid);
          return init === undefined ? undefined : `/proc/${init}/root${inside}`;
        },
        processes: () => cgroups.pids().map(String),
        report: (status) => deliver(status),
        log: (line) => sandbox.output.push(line),
        end: () => killSandbox(own.child.pid),
      });
      report = (line) => sandbox.output.push(`berth: ${line}`);
      launched = true;
      this.#sandboxes.launched(sandbox);
      await sandbox.ready();
      return sandbox;
    } catch (error) {
      if (!launched) {
        egress?.proxy.close();
        // A launched sandbox cleans up after itself; otherwise undo what this call took.
        await slot?.discard();
      }
      throw error instanceof BerthError
        ? error
        : new BerthError('sandbox_failed', `runtime "${spec.runtime}" could not get a sandbox: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * The supervision of a sandbox berth supervises from its own process: a stdio MCP server's. A sandbox with egress
   * keeps its supervisor, which relays the server's connections to berth's proxy from inside its network; so does
   * one with a warmup hook, which the supervisor sends inside it.
   */
  #hosts(spec: SandboxSpec): SuperviseOnHost | undefined {
    const hostable = spec.protocol === 'mcp' && spec.transport === 'stdio' && spec.network?.mode !== 'egress' && spec.warmup === undefined;
    return hostable ? this.#options.superviseOnHost : undefined;
  }

  /** bwrap's options for one sandbox (see the class's description). */
  #bwrapArgs(spec: SandboxSpec, dirs: SandboxDirs, env: Record<string, string>): string[] {
    return [
      '--unshare-all',
      '--unshare-user',
      '--disable-userns',
      '--die-with-parent',
      '--new-session',
      '--uid',
      String(INSIDE.uid),
      '--gid',
      String(INSIDE.uid),
      '--hostname',
      'sandbox',
      '--seccomp',
      '3',
      ...SYSTEM_VIEW_ARGS,
      '--size',
      String(spec.limits.tmpBytes),
      '--tmpfs',
      '/tmp',
      '--ro-bind',
      this.#etcDir,
      '/etc',
      '--ro-bind',
      this.#nodePath,
      INSIDE.node,
      '--ro-bind',
      this.#supervisorPath,
      INSIDE.supervisor,
      ...(this.#compileCache ? ['--ro-bind', this.#compileCache, COMPILE_CACHE_INSIDE] : []),
      ...(this.#pty ? ['--ro-bind', this.#pty, PTY_INSIDE] : []),
      '--ro-bind',
      spec.artifactDir,
      INSIDE.app,
      '--perms',
      '0700',
      '--size',
      String(spec.limits.workspaceBytes),
      '--tmpfs',
      INSIDE.home,
      // berth's run directory (a supervised stdio server's FIFOs): small, private, and nothing on the host's disk.
      '--perms',
      '0700',
      '--size',
      String(RUN_BYTES),
      '--tmpfs',
      INSIDE.run,
      ...networkArgs(spec, join(dirs.root, 'egress')),
      // The sandbox's root is a private tmpfs; read-only, so only /tmp, the workspace and the channel are writable. The
      // workspace is a tmpfs of its own: bounded, and gone with the sandbox.
      // The server's environment (its secrets too) for the supervisor, from a pipe into the sandbox's own root:
      // it never rests on the host's disk, and the root turns read-only with it.
      '--perms',
      '0400',
      '--file',
      String(ENV_FD),
      ENV_INSIDE,
      '--remount-ro',
      '/',
      '--chdir',
      INSIDE.app,
      '--clearenv',
      ...Object.entries(env).flatMap(([name, value]) => ['--setenv', name, value]),
    ];
  }

  async close(): Promise<void> {
    await this.#slots.close();
    await this.#sandboxes.close();
    await this.#factory.close();
    this.#cgroups.removeParents();
  }

  /**
   * Gives a sandbox's uid back only once its cgroups are gone, and with them every process it ran: a process
   * left behind under a reused uid could reach the next sandbox's files. A uid whose cgroups stay is retired.
   */
  async #release(uid: number, dirs: SandboxDirs, cgroups: SandboxCgroups | undefined): Promise<void> {
    let emptied = true;
    try {
      await cgroups?.destroy();
    } catch (error) {
      emptied = false;
      this.#options.logger.error("a sandbox's cgroups could not be removed; its uid is retired until berth restarts", { uid, err: error });
    }
    dirs.remove();
    if (emptied) this.#uids.release(uid);
  }
}

/**
 * Kills the sandbox through its pid-namespace init (the inner bwrap): the kernel then kills everything in the
 * namespace, and the outer bwrap reaps the init and exits. Killing the outer bwrap first would orphan the init to
 * the host's pid 1, which may take its time to reap it.
 */
function killSandbox(outer: number | undefined): void {
  if (outer === undefined) return;
  try {
    process.kill(firstChild(outer) ?? outer, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** The outer bwrap's child: the sandbox's pid-namespace init, inside its mounts; undefined when there is none (yet). */
function firstChild(outer: number | undefined): number | undefined {
  if (outer === undefined) return undefined;
  try {
    const inner = Number(readFileSync(`/proc/${outer}/task/${outer}/children`, 'utf8').trim().split(' ')[0]);
    return Number.isInteger(inner) && inner > 0 ? inner : undefined;
  } catch {
    // the outer bwrap is gone or has no child yet
    return undefined;
  }
}

/** bwrap options for the sandbox's network: none but its loopback, berth's egress proxy, or the host's. */
function networkArgs(spec: SandboxSpec, egressDir: string): string[] {
  if (spec.network?.mode === 'egress') return ['--ro-bind', egressDir, EGRESS_DIR_INSIDE];
  if (spec.network?.mode === 'host') return ['--share-net', '--ro-bind-try', '/etc/resolv.conf', '/etc/resolv.conf'];
  return [];
}

function unreachableMessage(path: string, blocked: string): string {
  return `sandbox uids cannot reach ${path}: ${blocked} does not let others traverse it (mode o+x); give berth a --home whose parent directories all allow that, such as /var/lib/berth`;
}

function findBwrap(explicit?: string): string | undefined {
  const candidates = explicit ? [explicit] : ['/usr/bin/bwrap', '/usr/local/bin/bwrap', '/bin/bwrap'];
  return candidates.find((path) => existsSync(path));
}
