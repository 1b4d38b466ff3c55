import { constants, openSync, readFileSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { SupervisorSpec } from '../core/channel.ts';
import type { ServerExit } from '../core/hosted-server.ts';

export type { ServerExit } from '../core/hosted-server.ts';

export interface AttachedServer {
  pid: number;
  /** For `http`: the address that accepted the readiness probe. */
  host: string;
  /** For `stdio`: the server's stdin and stdout. */
  stdin?: Writable;
  stdout?: Readable;
  exited: Promise<ServerExit>;
}

export class StartTimeout extends Error {}

export function describeExit(exit: ServerExit): string {
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.exitCode}`;
}

/** What a client whose call the server's exit cut short reads. */
export function crashMessage(runtime: string, exit: ServerExit): string {
  return `runtime "${runtime}": its server exited (${describeExit(exit)}) before answering; the session's state is gone and its next request starts a fresh sandbox`;
}

/**
 * Takes charge of the server the launcher started (it is this process's child since the launcher became the
 * supervisor) and resolves once it is ready: at once for stdio, once its port accepts connections for http.
 * Rejects with a message for the user when the server exits first or is not ready in time.
 */
export async function attachServer(spec: SupervisorSpec, pid: number): Promise<AttachedServer> {
  const exited = watchExit(pid, spec.exitStatusPath);
  let gone: ServerExit | undefined;
  void exited.then((exit) => (gone = exit));
  const deadline = Date.now() + spec.startTimeoutMs;
  if (spec.transport === 'stdio') {
    // The server opens both FIFOs read-write as it starts (stdout, then stdin), in the launcher's background child,
    // which may be after this process got here: until then stdin's write end fails with ENXIO. That is a server not there yet, not a
    // server gone, unless it has exited; and the retry's timer keeps this process alive while it waits.
    let stdinFd: number | undefined;
    while (stdinFd === undefined) {
      try {
        stdinFd = openSync(spec.stdinPath, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENXIO') throw error;
        if (gone) throw new Error(exitedEarly(spec, gone, 'was ready'));
        if (Date.now() >= deadline) {
          kill(pid);
          throw new StartTimeout(`the server did not open its stdin within ${spec.startTimeoutMs} ms`);
        }
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    }
    const stdin = new Socket({ fd: stdinFd, readable: false, writable: true });
    const stdout = new Socket({ fd: openSync(spec.stdoutPath, constants.O_RDONLY | constants.O_NONBLOCK), readable: true, writable: false });
    return { pid, host: '', stdin, stdout, exited };
  }
  for (let attempt = 0; ; attempt++) {
    if (gone) throw new Error(exitedEarly(spec, gone, `listened on port ${spec.port}`));
    for (const host of ['127.0.0.1', '::1']) {
      if (await accepts(host, spec.port)) return { pid, host, exited };
    }
    if (Date.now() >= deadline) {
      kill(pid);
      throw new StartTimeout(`the server did not listen on port ${spec.port} within ${spec.startTimeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, attempt < 50 ? 2 : 20));
  }
}

/**
 * `work` (a probe, an `initialize`) unless the server exits first, in which case it fails at once with the reason
 * instead of waiting for its own timeout.
 */
export function unlessExited<T>(spec: SupervisorSpec, exited: Promise<ServerExit>, work: Promise<T>, what: string): Promise<T> {
  return Promise.race([work, exited.then((exit) => Promise.reject(new Error(exitedEarly(spec, exit, what))))]);
}

/** Exit code 127 is the shell's "command not found"; say so, since it is the usual cause. */
function exitedEarly(spec: SupervisorSpec, exit: ServerExit, before: string): string {
  const hint = exit.exitCode === 127 ? `; "${spec.command}" was not found: check the command and that the program is in the artifact or on PATH` : '';
  return `the server exited (${describeExit(exit)}) before it ${before}${hint}`;
}

export function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/**
 * Resolves when `pid` (a child this process did not spawn through Node) exits. SIGCHLD says a child changed; the
 * child's /proc entry then says whether it is a zombie and with what status. The zombie stays unreaped: the
 * sandbox ends with the server anyway.
 */
function watchExit(pid: number, statusPath: string | undefined): Promise<ServerExit> {
  return new Promise((resolve) => {
    const check = (): boolean => {
      const zombie = zombieStatus(pid);
      const exit = zombie && statusPath !== undefined ? writtenStatus(statusPath) : zombie;
      if (!exit) return false;
      process.off('SIGCHLD', check);
      resolve(exit);
      return true;
    };
    process.on('SIGCHLD', check);
    check();
  });
}

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 13: 'SIGPIPE', 15: 'SIGTERM' };

/** The status the launcher's shell wrote down (see SupervisorSpec.exitStatusPath); none when the shell itself was killed. */
function writtenStatus(path: string): ServerExit {
  try {
    return shellStatus(readFileSync(path, 'utf8'));
  } catch {
    return { exitCode: null, signal: 'SIGKILL' };
  }
}

/** A server's exit as a shell's `$?` says it: 128 + N for signal N. */
export function shellStatus(text: string): ServerExit {
  const status = Number(text.trim());
  if (text.trim() === '' || !Number.isInteger(status)) return { exitCode: null, signal: 'unknown' };
  return status > 128 && status < 160 ? { exitCode: null, signal: SIGNALS[status - 128] ?? `signal ${status - 128}` } : { exitCode: status, signal: null };
}

function zombieStatus(pid: number): ServerExit | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return { exitCode: null, signal: 'unknown' };
  }
  // Fields after the command name (which may hold spaces) start at the state; exit_code is field 52 of the line.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] !== 'Z' && fields[0] !== 'X') return undefined;
  const status = Number(fields[49]);
  const signal = status & 0x7f;
  return signal === 0 ? { exitCode: (status >> 8) & 0xff, signal: null } : { exitCode: null, signal: SIGNALS[signal] ?? `signal ${signal}` };
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
