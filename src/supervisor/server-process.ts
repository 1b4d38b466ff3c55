import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import type { SupervisorSpec } from '../core/channel.ts';

/** A command made only of plain words runs without a shell, which saves a process and keeps signals direct. */
const PLAIN_WORDS = /^[\w./@:=+,%-]+(?: +[\w./@:=+,%-]+)*$/;

export function commandArgv(command: string): [string, ...string[]] {
  const trimmed = command.trim();
  if (PLAIN_WORDS.test(trimmed)) return trimmed.split(/ +/) as [string, ...string[]];
  return ['/bin/sh', '-c', trimmed];
}

export interface ServerExit {
  exitCode: number | null;
  signal: string | null;
}

export interface StartedServer {
  child: ChildProcess;
  /** For `http`: the address that accepted the readiness probe. */
  host: string;
  exited: Promise<ServerExit>;
}

/**
 * Starts the runtime's server and resolves once it is ready: spawned (stdio) or accepting connections on its port
 * (http). Rejects with a message for the user when the server exits first or never becomes ready in time.
 */
export async function startServer(spec: SupervisorSpec): Promise<StartedServer> {
  const [file, ...args] = commandArgv(spec.command);
  // stdio servers speak JSON-RPC on stdin/stdout; anything else a server prints goes to stderr, which berth collects.
  const child = spawn(file, args, {
    cwd: spec.cwd,
    env: spec.env,
    stdio: spec.transport === 'stdio' ? ['pipe', 'pipe', 'inherit'] : ['ignore', process.stderr, 'inherit'],
  });
  const exited = new Promise<ServerExit>((resolve) => {
    child.once('exit', (exitCode, signal) => resolve({ exitCode, signal }));
  });
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (error) => reject(new Error(`cannot start "${spec.command}": ${error.message}`)));
  });
  await spawned;
  if (spec.transport === 'stdio') return { child, host: '', exited };

  const deadline = Date.now() + spec.startTimeoutMs;
  let gone: ServerExit | undefined;
  void exited.then((exit) => (gone = exit));
  for (let attempt = 0; ; attempt++) {
    if (gone) throw new Error(`the server exited (${describeExit(gone)}) before it listened on port ${spec.port}`);
    for (const host of ['127.0.0.1', '::1']) {
      if (await accepts(host, spec.port)) return { child, host, exited };
    }
    if (Date.now() >= deadline) {
      child.kill('SIGKILL');
      throw new StartTimeout(`the server did not listen on port ${spec.port} within ${spec.startTimeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, attempt < 50 ? 2 : 20));
  }
}

export class StartTimeout extends Error {}

export function describeExit(exit: ServerExit): string {
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.exitCode}`;
}

/** What a client whose call the server's exit cut short reads. */
export function crashMessage(runtime: string, exit: ServerExit): string {
  return `runtime "${runtime}": its server exited (${describeExit(exit)}) before answering; the session's state is gone and its next request starts a fresh sandbox`;
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
