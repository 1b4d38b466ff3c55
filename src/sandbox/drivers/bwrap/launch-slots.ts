import { readFileSync } from 'node:fs';
import { randomId } from '../../../core/ids.ts';
import type { Logger } from '../../../observability/logger.ts';
import type { CgroupRoot, SandboxCgroups } from '../../cgroups.ts';
import { SandboxDirs } from '../../layout.ts';
import { GO_FD, LAUNCHER_ARGV, STATUS_FD } from '../../launcher.ts';
import type { FactoryShell, SlotFactory } from './slot-factory.ts';
import type { UidPool } from './uids.ts';

/** Launchers kept waiting; more starts than this at once make theirs as they go, as before there were any. */
const SPARE_SLOTS = 2;
/** A taken slot is replaced this long after, so the sandbox that took it has the CPU for its own start first. */
const REFILL_DELAY_MS = 100;
/** After a slot could not be made, the next try waits this long. */
const RETRY_MS = 1_000;

/**
 * The descriptors the launcher's shell finds: bwrap's options (ARGS_FD), the env file (ENV_FD), berth's lines to it
 * (GO_FD: the first lets it go on) and its lines to berth (STATUS_FD: the first says it has joined its cgroups).
 * GO_FD and STATUS_FD stay open into the sandbox, for a hosted server's launcher (see launcher.ts).
 */
export const ARGS_FD = 4;
export const ENV_FD = 6;

/**
 * A sandbox's first process, started before its sandbox is asked for: its uid taken, its private directories,
 * channel socket and cgroups made, and its shell already in those cgroups, waiting to be told what to run. The
 * first write to a cgroup's `cgroup.procs` after a quiet spell waits for the kernel (an RCU grace period, some
 * 10–30 ms), and the slot factory's fork of the shell costs a little more: a slot has paid both before a session
 * arrives. The sandbox it becomes keeps its id, directory and cgroups.
 */
export interface LaunchSlot {
  /** The slot's own sandbox id, until `become` gives it the sandbox's. */
  readonly id: string;
  readonly uid: number;
  /** The shell, which becomes the outer bwrap. */
  readonly child: FactoryShell;
  /**
   * Makes the slot sandbox `id`'s: its directories and cgroups take the sandbox's name (where cgroups cannot be
   * renamed, cgroup v2, they keep the slot's), so what an operator finds on the host is named by the sandbox.
   */
  become(id: string): Promise<{ dirs: SandboxDirs; cgroups: SandboxCgroups; channelPath: string }>;
  /**
   * Hands the shell bwrap's options and the server's environment file, and lets it become bwrap. `talk` keeps
   * GO_FD open for `tell` (a hosted server's launcher reads it); otherwise it is closed.
   */
  launch(bwrapArgs: string[], envJson: string, talk?: boolean): void;
  /** Sends the launcher a line on GO_FD (after `launch` with `talk`). */
  tell(line: string): void;
  /** The launcher's next line after it joined its cgroups (a hosted server's exit status); undefined if none comes. */
  readonly said: Promise<string | undefined>;
  /** Kills the shell (if it has not launched) and gives back what the slot took. */
  discard(): Promise<void>;
}

export interface LaunchSlotOptions {
  stateDir: string;
  bwrap: string;
  seccompPath: string;
  uids: UidPool;
  cgroups: CgroupRoot;
  /** Starts the shells (see slot-factory.ts). */
  factory: SlotFactory;
  logger: Logger;
  /** Gives back a sandbox's uid, directories and cgroups (the driver's, which retires a uid whose cgroups stay). */
  release: (uid: number, dirs: SandboxDirs, cgroups: SandboxCgroups | undefined) => Promise<void>;
}

/** Makes one slot now. */
export async function makeLaunchSlot(options: LaunchSlotOptions): Promise<LaunchSlot> {
  const id = randomId('sbx');
  const uid = options.uids.take();
  const dirs = new SandboxDirs(options.stateDir, id);
  let cgroups: SandboxCgroups | undefined;
  try {
    // The sandbox's workspace and run directory are tmpfs mounts inside it: only berth's part is on the host.
    dirs.create({ uid, gid: uid }, 'only root');
    // Limits come with the sandbox's spec; until then the cgroups hold only berth's waiting shell.
    cgroups = options.cgroups.create(id, undefined, uid);
    // Renaming its cgroups before the shell wrote itself into them would leave it no path to write to.
    let joined: () => void = () => {};
    let heard: (line: string | undefined) => void = () => {};
    const hasJoined = new Promise<void>((resolve) => (joined = resolve));
    const said = new Promise<string | undefined>((resolve) => (heard = resolve));
    let first = true;
    const child = await options.factory.start(
      {
        uid,
        argv: ['/bin/sh', '-c', slotScript(cgroups.procsFiles, options.bwrap), 'berth-sandbox', '--args', String(ARGS_FD), '--', ...LAUNCHER_ARGV],
        seccompPath: options.seccompPath,
        channelPath: dirs.channelSocket,
      },
      (line) => {
        if (line === undefined) heard(undefined);
        else if (first) joined();
        else heard(line);
        first = false;
      },
    );
    const ended = new Promise<never>((_, reject) =>
      child.once('exit', (code: number | null, signal: string | null) =>
        reject(new Error(`the sandbox's launcher ended (${signal ?? `exit code ${code}`}) before it had joined its cgroups`)),
      ),
    );
    ended.catch(() => {});
    let own = { dirs, cgroups, channelPath: dirs.channelSocket };
    let launched = false;
    return {
      id,
      uid,
      child,
      async become(sandboxId) {
        await Promise.race([hasJoined, ended]);
        const moved = options.cgroups.rename(id, sandboxId);
        if (!moved.renamed) options.logger.info('the sandbox runs in the cgroups of the launcher made for it ahead', { sandbox: sandboxId, cgroups: id });
        // Kept as it goes, so that a discard after a rename that failed half way finds what is there.
        own = { ...own, cgroups: moved.cgroups };
        const movedDirs = own.dirs.renamed(sandboxId);
        own = { dirs: movedDirs, cgroups: moved.cgroups, channelPath: movedDirs.channelSocket };
        return own;
      },
      said,
      launch(bwrapArgs, envJson, talk = false) {
        launched = true;
        child.launch(`${bwrapArgs.join('\0')}\0`, envJson, talk);
      },
      tell(line) {
        child.tell(line);
      },
      async discard() {
        if (!launched && child.exitCode === null && child.signalCode === null) {
          const gone = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGKILL');
          // Its cgroups can only go once the shell has left them.
          await gone;
        }
        await options.release(uid, own.dirs, own.cgroups);
      },
    };
  } catch (error) {
    await options.release(uid, dirs, cgroups);
    throw error;
  }
}

/**
 * Keeps SPARE_SLOTS launch slots ready. A start takes one if one is ready and makes its own otherwise; each taken
 * slot is replaced shortly after, one at a time.
 */
export class LaunchSlots {
  readonly #options: LaunchSlotOptions;
  readonly #ready: LaunchSlot[] = [];
  #making = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #discarding = new Set<Promise<void>>();

  constructor(options: LaunchSlotOptions) {
    this.#options = options;
    this.#refill(0);
  }

  /** A ready slot, or a new one made now. */
  async take(): Promise<LaunchSlot> {
    let slot = this.#ready.shift();
    // A shell that died while it waited (killed from outside) is of no use.
    while (slot && !waiting(slot.child)) {
      this.#discard(slot);
      slot = this.#ready.shift();
    }
    this.#refill(REFILL_DELAY_MS);
    return slot ?? makeLaunchSlot(this.#options);
  }

  /** How many are ready now. */
  get ready(): number {
    return this.#ready.length;
  }

  /** Discards the ready slots and makes no more. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    while (this.#making) await new Promise((resolve) => setTimeout(resolve, 5));
    for (const slot of this.#ready.splice(0)) this.#discard(slot);
    // Discards under way too: the driver removes its cgroup parents next, which a slot's cgroups would keep.
    await Promise.all(this.#discarding);
  }

  /** Discards a slot in the background; `close` waits for every such discard. */
  #discard(slot: LaunchSlot): void {
    const done = slot
      .discard()
      .catch((error: unknown) => this.#options.logger.warn('a sandbox launcher made ahead could not be discarded', { err: error }))
      .finally(() => this.#discarding.delete(done));
    this.#discarding.add(done);
  }

  #refill(delay: number): void {
    if (this.#closed || this.#making || this.#timer !== undefined || this.#ready.length >= SPARE_SLOTS) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#making = true;
      makeLaunchSlot(this.#options).then(
        (slot) => {
          this.#making = false;
          if (this.#closed) {
            this.#discard(slot);
            return;
          }
          this.#ready.push(slot);
          this.#refill(0);
        },
        (error: unknown) => {
          this.#making = false;
          this.#options.logger.warn('a sandbox launcher could not be made ahead; sandboxes start without one', { err: error });
          this.#refill(RETRY_MS);
        },
      );
    }, delay);
    this.#timer.unref();
  }
}

/** Whether a slot's shell still waits: not exited, and not a zombie Node has yet to reap. */
function waiting(child: FactoryShell): boolean {
  if (child.exitCode !== null || child.signalCode !== null) return false;
  try {
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

/**
 * The slot's shell, run as the sandbox's uid: it joins the sandbox's cgroups before anything forks, says so, waits
 * for its go line, and becomes bwrap, which reads its options from ARGS_FD. GO_FD and STATUS_FD stay open for the
 * launcher (see launcher.ts).
 */
function slotScript(procsFiles: string[], bwrap: string): string {
  const quote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;
  return [
    ...procsFiles.map((file) => `echo $$ > ${quote(file)} || exit 97`),
    `echo joined >&${STATUS_FD}`,
    `read -r go <&${GO_FD} || exit 96`,
    `exec ${quote(bwrap)} "$@"`,
  ].join('\n');
}
