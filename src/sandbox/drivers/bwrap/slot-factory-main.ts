/**
 * The slot factory: a small Node process berth starts once, which starts every bwrap sandbox's first shell for it
 * (see slot-factory.ts for why). It runs as root like berth, from berth's own sources, and imports nothing but
 * Node's modules and berth's sandbox helpers that need nothing else. It ends, killing its shells, when berth's
 * channel to it closes: the sandboxes die with their parent (`--die-with-parent`), as they would with berth.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { openChannelSocket } from '../../channel-socket.ts';
import { onLines } from '../../lines.ts';
import { MAX_SHELL_LINE, type FactoryEvent, type FactoryRequest } from './slot-factory-messages.ts';

interface Shell {
  child: ChildProcess;
  args: Writable;
  env: Writable;
  go: Writable;
}

const shells = new Map<number, Shell>();

/** Sends berth an event; a shell's stdio pipe (a net.Socket, as Node makes them) goes along as its handle. */
function send(event: FactoryEvent, handle?: Socket): void {
  // The channel is gone only as berth ends, and 'disconnect' below ends this process then.
  if (process.connected) process.send?.(event, handle);
}

async function start(request: Extract<FactoryRequest, { op: 'start' }>): Promise<void> {
  let seccomp: number | undefined;
  let channel: Awaited<ReturnType<typeof openChannelSocket>> | undefined;
  try {
    seccomp = openSync(request.seccompPath, 'r');
    channel = await openChannelSocket(request.channelPath);
    const [file, ...args] = request.argv as [string, ...string[]];
    const child = spawn(file, args, {
      stdio: ['pipe', 'pipe', 'pipe', seccomp, 'pipe', channel.fd, 'pipe', 'pipe', 'pipe'],
      uid: request.uid,
      gid: request.uid,
      env: {},
    });
    if (child.pid === undefined) {
      const error = await new Promise<Error>((resolve) => child.once('error', resolve));
      send({ ev: 'failed', shell: request.shell, message: error.message });
      return;
    }
    const pipes = child.stdio as ReadonlyArray<Readable | Writable | null>;
    const kept = [4, 6, 7].map((fd) => {
      const pipe = pipes[fd] as Writable;
      pipe.on('error', () => {});
      return pipe;
    }) as [Writable, Writable, Writable];
    shells.set(request.shell, { child, args: kept[0], env: kept[1], go: kept[2] });
    child.once('exit', (code, signal) => {
      shells.delete(request.shell);
      send({ ev: 'exit', shell: request.shell, code, signal });
    });
    send({ ev: 'started', shell: request.shell, pid: child.pid });
    for (const fd of [0, 1, 2] as const) send({ ev: 'stdio', shell: request.shell, fd }, pipes[fd] as Socket);
    const lines = pipes[8] as Readable;
    lines.on('error', () => {});
    onLines(lines, MAX_SHELL_LINE, (line) => send({ ev: 'line', shell: request.shell, line }));
    lines.once('close', () => send({ ev: 'lines-end', shell: request.shell }));
  } catch (error) {
    send({ ev: 'failed', shell: request.shell, message: (error as Error).message });
  } finally {
    if (seccomp !== undefined) closeSync(seccomp);
    channel?.release();
  }
}

process.on('message', (message: FactoryRequest) => {
  if (message.op === 'start') {
    void start(message);
    return;
  }
  const shell = shells.get(message.shell);
  if (!shell) return;
  if (message.op === 'launch') {
    shell.args.end(message.args);
    shell.env.end(message.env);
    if (message.talk) shell.go.write('go\n');
    else shell.go.end('go\n');
  } else if (message.op === 'tell') {
    if (shell.go.writable) shell.go.write(`${message.line}\n`);
  } else if (message.op === 'kill') {
    shell.child.kill(message.signal);
  }
});

// However this process ends, its shells end first: a launched one takes its sandbox with it (bwrap's
// `--die-with-parent` would too), and one still waiting would otherwise go on to run what berth never launched.
process.on('exit', () => {
  for (const shell of shells.values()) shell.child.kill('SIGKILL');
});
// berth closed the channel, or a send found it closed (EPIPE, emitted on the process): berth is gone or leaving.
process.on('disconnect', () => process.exit(0));
process.on('error', () => process.exit(0));

send({ ev: 'ready' });
