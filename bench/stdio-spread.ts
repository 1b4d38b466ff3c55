/**
 * The floor under "a random live session beside a hot one": the same stdio server, one process per session, driven
 * straight over its stdin and stdout by this process, with no berth, no sandbox and no HTTP. A call to a process that
 * has not run for a while is slower than one to a process that just ran (its memory is no longer in the CPU's
 * caches), and that gap is the server's own; berth's figure is measured beside it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname } from 'node:path';

export interface StdioServer {
  /** Sends one line and resolves with the next line the server writes. */
  call(line: string): Promise<string>;
  /** Kills it; resolves once it has exited. */
  stop(): Promise<void>;
}

/** Starts `server.js stdio` in `dir`, or `argv` (a sandbox around it, say). */
export function startStdioServer(dir: string, argv: [string, ...string[]] = [process.execPath, 'server.js', 'stdio']): StdioServer {
  const [file, ...args] = argv;
  const child: ChildProcess = spawn(file, args, {
    cwd: dir,
    env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin` },
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const waiting: Array<(line: string) => void> = [];
  let partial = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    partial += chunk;
    for (let end = partial.indexOf('\n'); end >= 0; end = partial.indexOf('\n')) {
      const line = partial.slice(0, end);
      partial = partial.slice(end + 1);
      waiting.shift()?.(line);
    }
  });
  return {
    call: (line) =>
      new Promise((resolve, reject) => {
        if (child.exitCode !== null) {
          reject(new Error(`the stdio server exited (${child.exitCode})`));
          return;
        }
        waiting.push(resolve);
        child.stdin?.write(`${line}\n`);
      }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    },
  };
}
