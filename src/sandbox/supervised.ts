import type { Readable } from 'node:stream';
import { parseSupervisorStatus, WARMUP_TIMEOUT_MS, type SupervisorStatus } from '../core/channel.ts';
import type { Logger } from '../observability/logger.ts';
import type { ChannelEndpoint, LimitEvent, LimitRecord, Sandbox, SandboxActivity, SandboxExit, SandboxSpec, SandboxStats } from './driver.ts';
import { LimitLog } from './limit-log.ts';
import { limitEventOf, LimitSampler, type LimitCounters } from './limit-sampler.ts';
import { onLines } from './lines.ts';
import { OutputLog } from './output-log.ts';
import { SandboxStartError } from './start-error.ts';

/** The host gives the supervisor this long beyond the server's own start timeout before it declares the sandbox hung. */
const READY_GRACE_MS = 5_000;
const MAX_OUTPUT_LINE = 4096;
/** Status messages are small; anything longer is not one. */
const MAX_STATUS_LINE = 16 * 1024;
/** How many of the last output lines a start failure's log carries. */
const OUTPUT_TAIL_LINES = 20;
/** After its server exits the supervisor ends the sandbox itself; past this, berth kills it. */
const EXIT_GRACE_MS = 2_000;

/** What a SupervisedSandbox needs of the sandbox's outermost host process: a ChildProcess, or a slot factory's shell. */
export interface SandboxProcess {
  readonly pid?: number | undefined;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  kill(signal?: NodeJS.Signals): boolean;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  once(event: 'error', listener: (error: Error) => void): this;
}

export interface SupervisedOptions {
  spec: SandboxSpec;
  /** The sandbox's outermost host process; killing it ends the sandbox. */
  child: SandboxProcess;
  channel: ChannelEndpoint;
  logger: Logger;
  /** Kills what may be left and removes the sandbox's private state. Runs once, after the child exits. */
  cleanup: () => Promise<void>;
  stats: () => SandboxStats;
  /** Read just before cleanup: which kernel limit, if any, the sandbox ran into. */
  limitHit?: () => SandboxExit['limit'];
  /** The kernel's counts of the limits it enforced on the sandbox (its cgroups), sampled while it runs. */
  limitCounters?: () => LimitCounters;
  /** How to kill the sandbox's processes; defaults to SIGKILL on the child. */
  kill?: () => void;
  /**
   * Where the supervisor's reports come from when it runs in berth's own process (a hosted server): it is handed
   * the function to deliver them to. Unset, they are the JSON lines of the child's stdout.
   */
  statuses?: (deliver: (status: SupervisorStatus) => void) => void;
}

/**
 * A sandbox whose supervisor reports on stdout: the lifecycle both drivers share. It waits for `ready`, turns
 * `failed` and early exits into errors that name the runtime, logs the server's output, and cleans up exactly once.
 */
export class SupervisedSandbox implements Sandbox {
  readonly id: string;
  /** The stats read as the sandbox exited, once its cgroups are gone. */
  #finalStats: SandboxStats | undefined;
  readonly pid: number;
  readonly channel: ChannelEndpoint;
  readonly exited: Promise<SandboxExit>;
  readonly closing: Promise<void>;
  era: 'modern' | 'legacy' = 'modern';
  activity: SandboxActivity = { waiting: 0, busy: false };
  readonly #activityListeners: Array<(activity: SandboxActivity) => void> = [];
  readonly #markClosing: () => void;
  readonly #options: SupervisedOptions;
  readonly output: OutputLog;
  readonly #limits = new LimitLog();
  #stopping = false;
  #retired = false;
  #lastStatus: SupervisorStatus | undefined;
  #onStatus: ((status: SupervisorStatus) => void) | undefined;

  readonly #sampler: LimitSampler | undefined;

  constructor(options: SupervisedOptions) {
    this.#options = options;
    this.output = new OutputLog(options.spec.logBytes, options.spec.secrets);
    this.id = options.spec.id;
    this.pid = options.child.pid ?? -1;
    this.channel = options.channel;
    const { child, logger } = options;
    // Each limit the sandbox runs into is also a line in its log, where `berth logs` shows it beside the server's output.
    this.#limits.listen((event) => this.output.push(`berth: ${event.detail}`));
    const sampler = options.limitCounters ? new LimitSampler(options.spec.limits, options.limitCounters, (event) => this.#limits.add(event)) : undefined;
    this.#sampler = sampler;
    let markClosing = (): void => {};
    this.closing = new Promise<void>((resolve) => (markClosing = resolve));
    this.#markClosing = markClosing;
    if (options.statuses) options.statuses((status) => this.#hear(status));
    else if (child.stdout) {
      onLines(child.stdout, MAX_STATUS_LINE, (line, cut) => {
        const status = cut ? undefined : parseSupervisorStatus(line);
        if (status) this.#hear(status);
      });
    }
    if (child.stderr) {
      onLines(child.stderr, MAX_OUTPUT_LINE, (line, cut) => {
        const text = cut ? `${line}…` : line;
        logger.debug('server output', { line: this.output.push(text) });
      });
    }
    const childExit = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      // A process that could not be spawned at all reports only an error, never an exit.
      child.once('error', (error) => {
        if (child.pid === undefined) {
          this.output.push(`could not start the sandbox: ${error.message}`);
          resolve({ code: null, signal: null });
        }
      });
    });
    this.exited = childExit.then(async (outer) => {
      this.#markClosing();
      // The last sample, while the cgroups that hold the counts still exist.
      sampler?.stop();
      const exit = this.#describeExit(outer);
      if (exit.limit === 'memory') {
        this.#limits.add({
          limit: 'memory',
          effect: 'ended',
          detail: `the kernel ended the sandbox at its memory limit of ${Math.round(options.spec.limits.memoryBytes / 2 ** 20)} MB`,
        });
      }
      // What it used in all, while its cgroups still count it.
      this.#finalStats = options.stats();
      try {
        await options.cleanup();
      } catch (error) {
        logger.error('sandbox cleanup failed', { err: error });
      }
      return exit;
    });
  }

  /** One report of the supervisor's. */
  #hear(status: SupervisorStatus): void {
    const { spec, logger } = this.#options;
    if (status.type === 'activity') {
      const activity = { waiting: status.waiting, busy: status.busy };
      this.activity = activity;
      for (const listener of this.#activityListeners) listener(activity);
      return;
    }
    if (status.type === 'limit') {
      this.#limits.add(limitEventOf(status, spec.limits));
      return;
    }
    if (status.type === 'ready') this.era = status.era;
    if (status.type === 'failed' && this.#lastStatus?.type === 'ready') {
      // After start nobody waits on this report; berth's log is where it says why the sandbox is about to end.
      // The message passes through the output log first, which hides the runtime's secrets.
      logger.warn('sandbox supervisor failed', { runtime: spec.runtime, sandbox: spec.id, reason: this.output.push(`berth: ${status.message}`) });
    }
    this.#lastStatus = status;
    this.#onStatus?.(status);
    if (status.type === 'server-exit') this.retire();
  }

  /** Resolves when the supervisor reports its server ready; rejects (and stops the sandbox) otherwise. */
  async ready(): Promise<void> {
    const { spec, logger } = this.#options;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await new Promise<SupervisorStatus | 'exited' | 'timeout'>((resolve) => {
      if (this.#lastStatus) resolve(this.#lastStatus);
      this.#onStatus = resolve;
      void this.exited.then(() => resolve('exited'));
      timer = setTimeout(() => resolve('timeout'), spec.startTimeoutMs + (spec.warmup ? WARMUP_TIMEOUT_MS : 0) + READY_GRACE_MS);
    });
    clearTimeout(timer);
    this.#onStatus = undefined;
    if (typeof outcome === 'object' && outcome.type === 'ready') return;
    await this.stop();
    logger.warn('sandbox failed to start', {
      runtime: spec.runtime,
      outcome: typeof outcome === 'string' ? outcome : outcome.type,
      output: this.output.tail(OUTPUT_TAIL_LINES).join('\n'),
    });
    if (typeof outcome === 'object' && outcome.type === 'failed')
      throw new SandboxStartError(outcome.code, `failed to start: ${outcome.message}`, spec, this.output);
    if (outcome === 'timeout') {
      // The supervisor's own deadline is the start timeout; berth allows a moment more for its report to arrive.
      throw new SandboxStartError('server_start_timeout', `was not ready within ${spec.startTimeoutMs} ms (BERTH_START_TIMEOUT_MS)`, spec, this.output);
    }
    const exit = await this.exited;
    const how = exit.exitCode !== undefined && exit.exitCode !== null ? `exit code ${exit.exitCode}` : `signal ${exit.signal ?? 'unknown'}`;
    // Whose end it was tells a user where to look: their server's, or the sandbox's before its supervisor said anything.
    const who = exit.reason === 'server-exit' ? 'its server exited' : "the sandbox ended before berth's supervisor reported on the server";
    throw new SandboxStartError('sandbox_failed', `exited during start: ${who} (${how})${exit.limit ? `, at its ${exit.limit} limit` : ''}`, spec, this.output);
  }

  onActivity(listener: (activity: SandboxActivity) => void): void {
    this.#activityListeners.push(listener);
  }

  using(): () => void {
    return this.#sampler?.begin() ?? noop;
  }

  retire(): void {
    if (this.#retired) return;
    this.#retired = true;
    this.#markClosing();
    setTimeout(() => this.#kill(), EXIT_GRACE_MS).unref();
  }

  stats(): SandboxStats {
    return this.#finalStats ?? this.#options.stats();
  }

  limitReached(): SandboxExit['limit'] {
    return this.#options.limitHit?.();
  }

  limits(): LimitRecord[] {
    return this.#limits.list();
  }

  onLimit(listener: (event: LimitEvent) => void): void {
    this.#limits.listen(listener);
  }

  async stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      this.#markClosing();
      this.#kill();
    }
    await this.exited;
  }

  #kill(): void {
    const { child, kill } = this.#options;
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (kill) kill();
    else child.kill('SIGKILL');
  }

  /** Why the sandbox ended: the server's own exit when the supervisor reported one, else the outer process's. */
  #describeExit(outer: { code: number | null; signal: string | null }): SandboxExit {
    const limit = this.#options.limitHit?.();
    const status = this.#lastStatus;
    const base: SandboxExit = this.#stopping
      ? { reason: 'stopped' }
      : status?.type === 'server-exit'
        ? { reason: 'server-exit', exitCode: status.exitCode, signal: status.signal }
        : { reason: status?.type === 'failed' ? 'failed' : 'killed', exitCode: outer.code, signal: outer.signal };
    return limit ? { ...base, limit } : base;
  }
}

function noop(): void {}
