import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../../observability/logger.ts';
import { onLines } from '../../lines.ts';
import type { SandboxProcess } from '../../supervised.ts';
import type { FactoryEvent, FactoryRequest } from './slot-factory-messages.ts';

const MAIN = fileURLToPath(new URL('./slot-factory-main.ts', import.meta.url));
/** The factory's own output is Node's warnings, at most; longer lines are cut. */
const MAX_FACTORY_LINE = 4096;

/** What a shell is started with (see FactoryRequest's `start`). */
export interface ShellRequest {
  uid: number;
  argv: string[];
  seccompPath: string;
  channelPath: string;
}

/**
 * A sandbox's first shell, started by the slot factory: a SandboxProcess like a ChildProcess, whose stdin, stdout
 * and stderr are berth's own pipes to it, and whose other descriptors the factory writes and reads for berth.
 */
export class FactoryShell extends EventEmitter implements SandboxProcess {
  readonly pid: number;
  stdin: Socket | null = null;
  stdout: Socket | null = null;
  stderr: Socket | null = null;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly #shell: number;
  readonly #factory: SlotFactory;

  constructor(shell: number, pid: number, factory: SlotFactory) {
    super();
    this.#shell = shell;
    this.pid = pid;
    this.#factory = factory;
  }

  /** Hands the shell bwrap's options and the environment file, and sends `go` (ending descriptor 7 unless `talk`). */
  launch(args: string, env: string, talk: boolean): void {
    this.#factory.request({ op: 'launch', shell: this.#shell, args, env, talk });
  }

  tell(line: string): void {
    this.#factory.request({ op: 'tell', shell: this.#shell, line });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.exitCode !== null || this.signalCode !== null) return false;
    this.#factory.request({ op: 'kill', shell: this.#shell, signal });
    return true;
  }

  /** Called by the factory's channel once the shell has been reaped (or the factory is gone, and the shell with it). */
  exited(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exitCode !== null || this.signalCode !== null) return;
    this.exitCode = code;
    this.signalCode = signal;
    this.emit('exit', code, signal);
  }
}

interface Starting {
  resolve: (shell: FactoryShell) => void;
  reject: (error: Error) => void;
  shell?: FactoryShell;
}

/**
 * Starts sandboxes' first shells from a small process of its own rather than from berth's. A fork copies the
 * forking process's page tables, so its cost grows with the process: from berth, with hundreds of sessions' state
 * in its heap, a fork took 6–15 ms of berth's only thread per sandbox, and the creation rate fell as sessions grew.
 * The factory stays small, so its forks stay cheap, and they run beside berth instead of stopping it.
 *
 * The shells are the factory's children: it reaps them and tells berth how each ended. Their stdin, stdout and
 * stderr come to berth as handles over the factory's IPC channel, so a hosted server's stdio is berth's own pipe as
 * before; the factory keeps the rest. If the factory dies, its shells and sandboxes die with it (`--die-with-parent`);
 * each is reported ended, and the next request starts a new factory.
 */
export class SlotFactory {
  readonly #logger: Logger;
  #process: ChildProcess | undefined;
  #ready: Promise<ChildProcess> | undefined;
  #next = 1;
  readonly #starting = new Map<number, Starting>();
  readonly #shells = new Map<number, FactoryShell>();
  readonly #lines = new Map<number, (line: string | undefined) => void>();
  #closed = false;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Starts a shell; `onLine` hears each line it writes on descriptor 8, then undefined when it closes. */
  async start(request: ShellRequest, onLine: (line: string | undefined) => void): Promise<FactoryShell> {
    if (this.#closed) throw new Error('the slot factory is closed');
    const factory = await this.#running();
    const shell = this.#next++;
    this.#lines.set(shell, onLine);
    const started = new Promise<FactoryShell>((resolve, reject) => this.#starting.set(shell, { resolve, reject }));
    factory.send({ op: 'start', shell, ...request } satisfies FactoryRequest);
    return started;
  }

  request(message: FactoryRequest): void {
    if (this.#process?.connected) this.#process.send(message);
  }

  /** How many shells the factory has started that have not ended. */
  get shells(): number {
    return this.#shells.size;
  }

  /** The factory's pid, while it runs. */
  get pid(): number | undefined {
    return this.#process?.pid;
  }

  /** Ends the factory; its shells (and their sandboxes) end with it. */
  async close(): Promise<void> {
    this.#closed = true;
    const factory = this.#process;
    if (!factory || factory.exitCode !== null || factory.signalCode !== null) return;
    const gone = new Promise((resolve) => factory.once('exit', resolve));
    factory.disconnect();
    await gone;
  }

  #running(): Promise<ChildProcess> {
    this.#ready ??= new Promise<ChildProcess>((resolve, reject) => {
      // An empty environment: nothing of berth's (NODE_OPTIONS, NODE_EXTRA_CA_CERTS) reaches it or costs it.
      const factory = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: {} });
      this.#process = factory;
      onLines(factory.stderr as NonNullable<typeof factory.stderr>, MAX_FACTORY_LINE, (line) => this.#logger.warn('the slot factory says', { line }));
      factory.on('message', (event: FactoryEvent, handle: unknown) => {
        if (event.ev === 'ready') resolve(factory);
        else this.#hear(event, handle as Socket | undefined);
      });
      // A spawn that failed, or a send that found the factory gone (EPIPE): its exit, if it ran, follows.
      factory.on('error', (error) => {
        reject(error);
        if (factory.pid !== undefined) this.#logger.warn('the slot factory could not be told', { err: error });
        else if (this.#process === factory) {
          // It never ran, so no exit follows: the next start tries again.
          this.#process = undefined;
          this.#ready = undefined;
        }
      });
      factory.once('exit', (code, signal) => {
        reject(new Error(`the slot factory ended as it started (${signal ?? `exit code ${code}`})`));
        this.#gone(factory, code, signal);
      });
    });
    return this.#ready;
  }

  #hear(event: Exclude<FactoryEvent, { ev: 'ready' }>, handle: Socket | undefined): void {
    const { shell } = event;
    switch (event.ev) {
      case 'started': {
        const own = new FactoryShell(shell, event.pid, this);
        this.#shells.set(shell, own);
        const starting = this.#starting.get(shell);
        if (starting) starting.shell = own;
        return;
      }
      case 'stdio': {
        const own = this.#shells.get(shell);
        const starting = this.#starting.get(shell);
        if (!own || !handle) {
          // No handle: the factory's pipe was gone, because the shell had already ended.
          handle?.destroy();
          this.#starting.delete(shell);
          starting?.reject(new Error(`the sandbox's shell ended as it started`));
          return;
        }
        handle.on('error', () => {});
        if (event.fd === 0) own.stdin = handle;
        else if (event.fd === 1) own.stdout = handle;
        else own.stderr = handle;
        // The third handle completes the shell.
        if (event.fd === 2 && starting) {
          this.#starting.delete(shell);
          starting.resolve(own);
        }
        return;
      }
      case 'failed':
        this.#lines.delete(shell);
        this.#starting.get(shell)?.reject(new Error(event.message));
        this.#starting.delete(shell);
        return;
      case 'line':
        this.#lines.get(shell)?.(event.line);
        return;
      case 'lines-end':
        this.#lines.get(shell)?.(undefined);
        this.#lines.delete(shell);
        return;
      case 'exit':
        this.#ended(shell, event.code, event.signal);
    }
  }

  #ended(shell: number, code: number | null, signal: NodeJS.Signals | null): void {
    const starting = this.#starting.get(shell);
    this.#starting.delete(shell);
    starting?.reject(new Error(`the sandbox's shell ended (${signal ?? `exit code ${code}`}) as it started`));
    this.#shells.get(shell)?.exited(code, signal);
    this.#shells.delete(shell);
    this.#lines.get(shell)?.(undefined);
    this.#lines.delete(shell);
  }

  /** The factory ended: every shell it held ended with it. */
  #gone(factory: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#process !== factory) return;
    this.#process = undefined;
    this.#ready = undefined;
    const held = new Set([...this.#shells.keys(), ...this.#starting.keys()]);
    if (!this.#closed) {
      this.#logger.error('the slot factory ended; the sandboxes it started end with it, and the next start begins a new one', {
        code,
        signal,
        sandboxes: held.size,
      });
    }
    for (const shell of held) this.#ended(shell, null, 'SIGKILL');
  }
}
