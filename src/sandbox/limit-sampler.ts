import type { SupervisorStatus } from '../core/channel.ts';
import { SamplingPace } from '../core/sampling-pace.ts';
import type { LimitEvent, SandboxLimits } from './driver.ts';

/** The kernel's running counts of what a sandbox's cgroups held back; absent where the driver has no such count. */
export interface LimitCounters {
  /** CFS periods in which the sandbox used up its CPU quota, and the time it then waited. */
  cpuThrottled?: { periods: number; usec: number };
  /** Forks the pids limit refused. */
  pidsRefused?: number;
}

/**
 * How often a sandbox's counters are read: every second while they move or the sandbox answers requests (cheap, two
 * small cgroup files, and soon enough for a person looking), once more 15 s after that, and then not until the
 * sandbox is used again, so idle sandboxes cost the node nothing. (cgroup v1's event files raise no inotify event,
 * so the kernel cannot be asked to say when a counter moves.)
 */
const PACE = { busyMs: 1000, trailingMs: 15_000, quietMs: 10_000 };

/** Reads a sandbox's limit counters and reports each one that grew since the last reading. */
export class LimitSampler {
  readonly #limits: SandboxLimits;
  readonly #read: () => LimitCounters;
  readonly #emit: (event: LimitEvent) => void;
  readonly #pace: SamplingPace;
  #last: Required<LimitCounters> = { cpuThrottled: { periods: 0, usec: 0 }, pidsRefused: 0 };

  constructor(limits: SandboxLimits, read: () => LimitCounters, emit: (event: LimitEvent) => void) {
    this.#limits = limits;
    this.#read = read;
    this.#emit = emit;
    this.#pace = new SamplingPace(() => this.#sample(), PACE);
  }

  /** A request to the sandbox is under way until the function returned is called (see SamplingPace.begin). */
  begin(): () => void {
    return this.#pace.begin();
  }

  /** Takes a last reading and stops. */
  stop(): void {
    this.#pace.stop();
    this.#sample();
  }

  #sample(): void {
    const now = this.#read();
    const cpu = now.cpuThrottled;
    if (cpu && cpu.periods > this.#last.cpuThrottled.periods) {
      this.#emit({
        limit: 'cpu',
        effect: 'throttled',
        detail: `held back at its CPU share of ${this.#limits.cpus} cores: ${cpu.periods} times, ${Math.round(cpu.usec / 1000)} ms in all`,
      });
      this.#last.cpuThrottled = cpu;
      this.#pace.active();
    }
    const refused = now.pidsRefused;
    if (refused !== undefined && refused > this.#last.pidsRefused) {
      this.#emit({
        limit: 'pids',
        effect: 'refused',
        detail: `a new process or thread was refused at its limit of ${this.#limits.pids} (${refused} refused in all)`,
      });
      this.#last.pidsRefused = refused;
      this.#pace.active();
    }
  }
}

/**
 * A limit the supervisor saw from inside the sandbox, as the event it is. The supervisor's stdout is untrusted, so
 * only its figures are taken, and the words are berth's.
 */
export function limitEventOf(status: Extract<SupervisorStatus, { type: 'limit' }>, limits: SandboxLimits): LimitEvent {
  const mb = (bytes: number): number => Math.round(bytes / 2 ** 20);
  switch (status.limit) {
    case 'workspace':
      return {
        limit: 'workspace',
        effect: 'refused',
        detail: `the workspace is full (${mb(status.used)} of ${mb(limits.workspaceBytes)} MB): writes fail with ENOSPC until files are removed`,
      };
    case 'openFiles':
      return {
        limit: 'openFiles',
        effect: 'refused',
        detail: `a process holds ${status.used} open files, its limit of ${limits.openFiles}: opening more fails with EMFILE`,
      };
    case 'pids':
      return { limit: 'pids', effect: 'refused', detail: `${status.used} processes and threads, its limit of ${limits.pids}: new ones fail with EAGAIN` };
  }
}
