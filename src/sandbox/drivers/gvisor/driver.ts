import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError } from '../../../core/errors.ts';
import { DriverSandboxes } from '../driver-sandboxes.ts';
import { CgroupRoot, type SandboxCgroups } from '../../cgroups.ts';
import { DialInChannel } from '../../channel-dialin.ts';
import type { IsolatingDriverOptions, Sandbox, SandboxDriver, SandboxSpec } from '../../driver.ts';
import { openEgress } from '../../egress/open.ts';
import { INSIDE, placeSandboxFiles } from '../../inside.ts';
import { placePtyModule, PTY_INSIDE, ptyRequirePath } from '../../pty-module.ts';
import { LAUNCHER_ARGV, launchEnv, supervisorSpecFor } from '../../launcher.ts';
import { ENV_FILE_NAME, SANDBOX_DIR_PREFIX } from '../../layout.ts';
import { sweepDirectories } from '../../../core/sweep.ts';
import { serverEnv } from '../../server-env.ts';
import { SupervisedSandbox } from '../../supervised.ts';
import { volatileDir } from '../../volatile-dir.ts';
import { CHANNEL_DIR_INSIDE, ociConfig, writeRootfs } from './bundle.ts';
import { findRunsc, hasRunscState, removeRunscLeftovers, runscCommand, runscUnsupportedReason } from './runsc.ts';

/** Connections the supervisor keeps dialled for berth to take. */
const CHANNEL_SPARES = 2;
/** The channel socket's name in the sandbox's channel directory. */
const CHANNEL_SOCKET = 'c.sock';
/** How often the memory watchdog looks (see #watchMemory). */
const OOM_POLL_MS = 200;
/** After `runsc kill`, how long before the sandbox's processes are killed outright. */
const KILL_GRACE_MS = 2_000;

/**
 * `stateDir` holds the shared root and the files every sandbox sees. Sandboxes' bundles, channel directories and
 * runsc's state, which hold each sandbox's environment and so its secrets, go to a memory file system
 * (`volatileDir`), and to `stateDir` only where the machine has none.
 */
export interface GvisorDriverOptions extends IsolatingDriverOptions {
  /** The runsc binary; see findRunsc. */
  runscPath?: string;
}

/**
 * The strong driver: gVisor. Each sandbox runs on runsc's user-space kernel (systrap platform), so the server's
 * system calls never reach the host kernel; it has no network (`--network=none`: its own loopback only), no
 * capabilities, a read-only root of mount points with read-only system directories and artifact, and private
 * tmpfs `/tmp`, workspace and run directory inside the sandbox's memory. Memory, CPU and host threads are capped by
 * cgroups runsc makes under berth's; open files and processes by rlimits inside. The channel is dialled from inside
 * (see DialInChannel): gVisor cannot serve a listening socket passed in from the host.
 */
export class GvisorDriver implements SandboxDriver {
  readonly name = 'gvisor';
  readonly isolated = true;
  readonly #options: GvisorDriverOptions;
  readonly #runsc: string;
  readonly #runscRoot: string;
  /** Where sandboxes' bundles and runsc's state live: in memory where the machine allows. */
  readonly #bundles: string;
  readonly #rootfs: string;
  readonly #etcDir: string;
  readonly #nodePath: string;
  readonly #supervisorPath: string;
  /** node-pty for the sandboxes' shells, when this platform has it. */
  readonly #pty: string | undefined;
  readonly #cgroups: CgroupRoot;
  readonly #sandboxes = new DriverSandboxes();

  private constructor(options: GvisorDriverOptions, runsc: string, cgroups: CgroupRoot, bundles: string) {
    this.#options = options;
    this.#runsc = runsc;
    this.#cgroups = cgroups;
    this.#bundles = bundles;
    this.#runscRoot = join(bundles, 'runsc');
    mkdirSync(this.#runscRoot, { recursive: true, mode: 0o700 });
    this.#rootfs = join(options.stateDir, 'rootfs');
    writeRootfs(this.#rootfs);
    const files = placeSandboxFiles(options.stateDir, options.nodePath, options.supervisorPath);
    this.#pty = placePtyModule(options.stateDir);
    this.#etcDir = files.etc;
    this.#nodePath = files.node;
    this.#supervisorPath = files.supervisor;
  }

  static unsupportedReason(runscPath?: string): string | undefined {
    return runscUnsupportedReason(findRunsc(runscPath));
  }

  static async create(options: GvisorDriverOptions): Promise<GvisorDriver> {
    const runsc = findRunsc(options.runscPath);
    const reason = runscUnsupportedReason(runsc);
    if (reason || !runsc) throw new Error(reason);
    mkdirSync(options.stateDir, { recursive: true, mode: 0o700 });
    const tag = createHash('sha256').update(realpathSync(options.stateDir)).digest('hex').slice(0, 10);
    const cgroups = CgroupRoot.open(`g${tag}`);
    const bundles = volatileDir(`g${tag}`, (message) => options.logger.warn(message));
    if (!bundles)
      options.logger.warn(
        "this machine has no tmpfs at /dev/shm: gVisor sandboxes' environments (their secrets too) rest on disk in berth's home while they live",
      );
    const driver = new GvisorDriver(options, runsc, cgroups, bundles ?? options.stateDir);
    await driver.#removeStale();
    return driver;
  }

  start(spec: SandboxSpec): Promise<Sandbox> {
    return this.#sandboxes.start(() => this.#start(spec));
  }

  async #start(spec: SandboxSpec): Promise<Sandbox> {
    const { logger } = this.#options;
    const dir = join(this.#bundles, spec.id);
    const channelDir = join(dir, 'channel');
    const cgroups = this.#cgroups.adopt(spec.id);
    const egressDir = join(dir, 'egress');
    let channel: DialInChannel | undefined;
    let egress: Awaited<ReturnType<typeof openEgress>>;
    let report = (line: string): void => logger.info(line, { sandbox: spec.id });
    let launched = false;
    try {
      mkdirSync(dir, { mode: 0o700 });
      mkdirSync(channelDir, { mode: 0o755 });
      channel = await DialInChannel.open(join(channelDir, CHANNEL_SOCKET), { uid: INSIDE.uid, gid: INSIDE.uid });
      egress = await openEgress(spec, egressDir, { uid: INSIDE.uid, gid: INSIDE.uid }, this.#options.berthPorts ?? [], (line) => report(line));
      const env = serverEnv(spec, { PATH: INSIDE.path, HOME: INSIDE.home }, true);
      const envFile = join(channelDir, ENV_FILE_NAME);
      writeFileSync(envFile, JSON.stringify(env), { mode: 0o600 });
      chownSync(envFile, INSIDE.uid, INSIDE.uid);
      const supervisorSpec = supervisorSpecFor(
        spec,
        INSIDE.run,
        { dial: `${CHANNEL_DIR_INSIDE}/${CHANNEL_SOCKET}`, spares: CHANNEL_SPARES },
        {
          envPath: `${CHANNEL_DIR_INSIDE}/${ENV_FILE_NAME}`,
          exitStatusPath: `${INSIDE.run}/status`,
          // gVisor's tasks are its own kernel's: no host cgroup counts them, so the supervisor watches the pids limit too.
          watch: { workspace: INSIDE.home, openFiles: spec.limits.openFiles, pids: spec.limits.pids },
          ...(egress ? { egress: egress.supervisor } : {}),
          ...(this.#pty ? { pty: ptyRequirePath(PTY_INSIDE) } : {}),
        },
      );
      const launch = launchEnv({ runDir: INSIDE.run, node: INSIDE.node, supervisor: INSIDE.supervisor }, supervisorSpec, spec.limits.openFiles);
      const config = ociConfig({
        paths: {
          rootfs: this.#rootfs,
          etc: this.#etcDir,
          node: this.#nodePath,
          supervisor: this.#supervisorPath,
          artifact: spec.artifactDir,
          channelDir,
          ...(egress ? { egressDir } : {}),
          ...(this.#pty ? { pty: this.#pty } : {}),
        },
        args: [...LAUNCHER_ARGV],
        env: { ...env, ...launch },
        limits: spec.limits,
        cgroupsPath: `${this.#cgroups.name}/${spec.id}`,
        capSwap: this.#cgroups.accountsSwap,
        hostNetwork: spec.network?.mode === 'host',
      });
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config), { mode: 0o600 });
      // runsc has no die-with-parent of its own: if berth dies, the kernel kills `runsc run`, which takes its sandbox down.
      const child = spawn(
        '/usr/bin/setpriv',
        ['--pdeathsig', 'KILL', this.#runsc, ...this.#globalFlags(spec.network?.mode === 'host' ? 'host' : 'none'), 'run', '--bundle', dir, spec.id],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: {},
        },
      );
      const ownChannel = channel;
      // Remembered: killing the sandbox removes its cgroups, and with them the counters that said why.
      let memoryHit = false;
      const killNow = (): void => {
        if (cgroups.oomKills() > 0) memoryHit = true;
        void cgroups.destroy().catch(() => {});
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      };
      const sandbox = new SupervisedSandbox({
        spec,
        child,
        channel: { connect: ownChannel.connect },
        logger: logger.child({ sandbox: spec.id, runtime: spec.runtime }),
        stats: () => ({ memoryBytes: cgroups.memoryBytes(), cpuSeconds: cgroups.cpuSeconds() }),
        limitCounters: () => cgroups.limitCounters(),
        kill: () => {
          void runscCommand(this.#runsc, this.#runscRoot, ['kill', spec.id, 'KILL']).then(({ ok }) => {
            if (!ok) killNow();
          });
          setTimeout(killNow, KILL_GRACE_MS).unref();
        },
        limitHit: () => (memoryHit || cgroups.oomKills() > 0 ? 'memory' : cgroups.pidsLimitHit() ? 'pids' : undefined),
        cleanup: async () => {
          clearInterval(memoryWatch);
          egress?.proxy.close();
          ownChannel.close();
          await this.#remove(spec.id, dir, cgroups);
        },
      });
      const memoryWatch = this.#watchMemory(cgroups, killNow);
      report = (line) => sandbox.output.push(`berth: ${line}`);
      launched = true;
      this.#sandboxes.launched(sandbox);
      await sandbox.ready();
      return sandbox;
    } catch (error) {
      if (!launched) {
        channel?.close();
        egress?.proxy.close();
        await this.#remove(spec.id, dir, cgroups);
      }
      throw error instanceof BerthError
        ? error
        : new BerthError('sandbox_failed', `runtime "${spec.runtime}" could not get a gVisor sandbox: ${(error as Error).message}`, { cause: error });
    }
  }

  async close(): Promise<void> {
    await this.#sandboxes.close();
    this.#cgroups.removeParents();
    // The memory file system's directory is this node's alone; nothing in it outlives the sandboxes.
    if (this.#bundles !== this.#options.stateDir) rmSync(this.#bundles, { recursive: true, force: true });
  }

  #globalFlags(network: 'none' | 'host'): string[] {
    return ['--root', this.#runscRoot, '--platform=systrap', `--network=${network}`, '--host-uds=open', '--overlay2=none', '--oci-seccomp'];
  }

  /**
   * When a sandbox reaches its memory limit the host's OOM killer ends one of runsc's processes, and the sandbox
   * hangs rather than exits: the watchdog sees the kill in the cgroup's counters and ends the sandbox, which then
   * reports the memory limit as its reason.
   */
  #watchMemory(cgroups: SandboxCgroups, kill: () => void): NodeJS.Timeout {
    const timer = setInterval(() => {
      if (cgroups.oomKills() > 0) {
        clearInterval(timer);
        kill();
      }
    }, OOM_POLL_MS);
    timer.unref();
    return timer;
  }

  async #remove(id: string, dir: string, cgroups: SandboxCgroups): Promise<void> {
    if (hasRunscState(this.#runscRoot, id)) {
      const deleted = await runscCommand(this.#runsc, this.#runscRoot, ['delete', '-force', id]);
      if (!deleted.ok) this.#options.logger.warn("runsc could not delete a sandbox's state", { sandbox: id, stderr: deleted.stderr.trim() });
      removeRunscLeftovers(this.#runscRoot, id);
    }
    try {
      await cgroups.destroy();
      this.#cgroups.removeFromEveryHierarchy(id);
    } catch (error) {
      this.#options.logger.error("a gVisor sandbox's cgroups could not be removed", { sandbox: id, err: error });
    }
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  }

  /** Ends what an earlier run of this node left: runsc containers, their cgroups and directories. */
  async #removeStale(): Promise<void> {
    const ids: string[] = [];
    // runsc's state from before it moved to memory may still be in the state directory.
    for (const root of new Set([this.#runscRoot, join(this.#options.stateDir, 'runsc')])) {
      const listed = await runscCommand(this.#runsc, root, ['list', '-quiet']);
      const found = listed.ok
        ? listed.stdout
            .split('\n')
            .map((line) => line.trim())
            .filter(Boolean)
        : [];
      for (const id of found) await runscCommand(this.#runsc, root, ['delete', '-force', id]);
      ids.push(...found);
      if (existsSync(root)) for (const name of readdirSync(root)) rmSync(join(root, name), { recursive: true, force: true });
    }
    const removed = this.#cgroups.removeStale();
    let dirs = 0;
    let bytes = 0;
    // Bundles from before they moved to memory may still be in the state directory.
    for (const parent of new Set([this.#bundles, this.#options.stateDir])) {
      const swept = sweepDirectories(parent, SANDBOX_DIR_PREFIX);
      dirs += swept.count;
      bytes += swept.bytes;
    }
    if (ids.length + removed.length + dirs > 0) {
      this.#options.logger.warn('removed gVisor sandboxes left by an earlier run of berth', { containers: ids.length, cgroups: removed.length, dirs, bytes });
    }
  }
}
