import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { IPty } from '@lydell/node-pty';
import { acceptKey, CLOSE, closeFrame, encodeFrame, FrameReader, isWebSocketKey, OPCODE } from '../core/websocket.ts';
import type { ChannelHandler, ChannelRequest } from './channel-server.ts';
import { replyError } from './reply.ts';

/**
 * Interactive shells in the sandbox (AgentCore's InvokeAgentRuntimeCommandShell), over WebSocket with the channel
 * framing of Kubernetes' `v5.channel.k8s.io` that AgentCore's clients speak: each binary message is one channel
 * byte and its payload. STDIN in; STDOUT and STDERR out; STATUS a `metav1.Status` (on connect, with the shell's id
 * and whether it was reattached; at exit, with its code); RESIZE `{"width","height"}`; HEARTBEAT echoed; CLOSE ends
 * the shell.
 *
 * A shell is a login shell on a PTY, as the sandbox's user, with the server's environment and working directory,
 * inside the sandbox's limits. It outlives its connection: a client that reconnects with the same id gets what it
 * printed meanwhile (the last SHELL_BUFFER_BYTES of it), and one that connects while another holds the shell takes it
 * (the other is closed with 4000). While the client does not read, the shell's output is not read either, so a shell
 * that floods a client that never reads waits rather than filling the supervisor's memory.
 */

export const CHANNEL = { stdin: 0x00, stdout: 0x01, stderr: 0x02, status: 0x03, resize: 0x04, heartbeat: 0x05, close: 0xff } as const;
/** Shells a session may have at once, as AgentCore allows. */
export const MAX_SHELLS = 10;
/** The largest frame a client may send, and the most output one frame carries. */
export const SHELL_FRAME_BYTES = 64 * 1024;
/** Output kept for a client that is away, replayed when it reconnects; older output is dropped (and counted). */
export const SHELL_BUFFER_BYTES = 256 * 1024;
/** A shell lives at most this long, as AgentCore's do. */
const SHELL_LIFETIME_MS = 60 * 60 * 1000;
/** A shell nobody is connected to ends after this long. */
const DETACHED_MS = 15 * 60 * 1000;
/** A close code of AgentCore's: another client took the shell. */
const TAKEN_OVER = 4000;

export interface ShellOptions {
  /** Where node-pty is inside the sandbox; without it, the sandbox has no shells. */
  pty: string | undefined;
  env: Record<string, string>;
  cwd: string;
}

interface Shell {
  id: string;
  pty: IPty;
  client: Socket | undefined;
  /** Output while no client was connected. */
  pending: Buffer[];
  pendingBytes: number;
  dropped: number;
  exit: number | undefined;
  detachedTimer: NodeJS.Timeout | undefined;
  lifetimeTimer: NodeJS.Timeout;
}

type Spawn = (file: string, args: string[], options: { name: string; cols: number; rows: number; cwd: string; env: Record<string, string> }) => IPty;

export function createShells(options: ShellOptions): { handle: ChannelHandler; killAll(): void } {
  const shells = new Map<string, Shell>();
  let spawn: Spawn | undefined;
  const loadPty = (): Spawn => {
    if (spawn) return spawn;
    const path = options.pty as string;
    const module = process.getBuiltinModule('node:module').createRequire(path)(path) as { spawn: Spawn };
    spawn = module.spawn;
    return spawn;
  };

  const handle: ChannelHandler = (req, res) => {
    const id = new URL(req.url, 'http://channel').searchParams.get('id');
    const key = req.headers['sec-websocket-key'];
    if (!req.upgrade || typeof key !== 'string' || !isWebSocketKey(key) || id === null) {
      req.discard();
      replyError(res, 'invalid_request', 'a shell is a WebSocket: ask for an upgrade with a Sec-WebSocket-Key and a shell id');
      return;
    }
    if (options.pty === undefined) {
      replyError(res, 'invalid_request', 'this sandbox has no terminal support (berth found no node-pty for this platform), so it has no shells');
      return;
    }
    let shell = shells.get(id);
    const reattached = shell !== undefined;
    if (!shell && [...shells.values()].filter((one) => one.exit === undefined).length >= MAX_SHELLS) {
      replyError(res, 'shell_limit', `a session has at most ${MAX_SHELLS} shells at once: close one (or let it exit) first`);
      return;
    }
    if (!shell) {
      try {
        shell = start(id, loadPty());
      } catch (error) {
        replyError(res, 'sandbox_failed', `the shell could not start: ${(error as Error).message}`);
        return;
      }
    }
    attach(shell, req, key, reattached);
  };

  const start = (id: string, spawnPty: Spawn): Shell => {
    const pty = spawnPty(existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh', ['-l'], {
      name: 'xterm-256color',
      cols: 80,
      rows: 24,
      cwd: options.cwd,
      env: { TERM: 'xterm-256color', ...options.env },
    });
    const shell: Shell = {
      id,
      pty,
      client: undefined,
      pending: [],
      pendingBytes: 0,
      dropped: 0,
      exit: undefined,
      detachedTimer: undefined,
      lifetimeTimer: setTimeout(() => pty.kill('SIGKILL'), SHELL_LIFETIME_MS).unref(),
    };
    shells.set(id, shell);
    pty.onData((text) => output(shell, Buffer.from(text, 'utf8')));
    pty.onExit(({ exitCode }) => {
      shell.exit = exitCode;
      clearTimeout(shell.lifetimeTimer);
      clearTimeout(shell.detachedTimer);
      if (shell.client) finish(shell, shell.client);
      // Kept for a while for a client that comes back to learn how it ended.
      else shell.detachedTimer = setTimeout(() => shells.delete(id), DETACHED_MS).unref();
    });
    return shell;
  };

  /** Output to the client, a frame at a time; with no client, kept (the oldest dropped past the bound). */
  const output = (shell: Shell, bytes: Buffer): void => {
    const client = shell.client;
    if (client && !client.destroyed) {
      let full = false;
      for (let start = 0; start < bytes.length; start += SHELL_FRAME_BYTES - 1) {
        full = !client.write(message(CHANNEL.stdout, bytes.subarray(start, start + SHELL_FRAME_BYTES - 1))) || full;
      }
      if (full) {
        shell.pty.pause();
        client.once('drain', () => shell.pty.resume());
      }
      return;
    }
    shell.pending.push(bytes);
    shell.pendingBytes += bytes.length;
    while (shell.pendingBytes > SHELL_BUFFER_BYTES && shell.pending.length > 0) {
      const oldest = shell.pending.shift() as Buffer;
      shell.pendingBytes -= oldest.length;
      shell.dropped += oldest.length;
    }
  };

  const attach = (shell: Shell, req: ChannelRequest, key: string, reconnected: boolean): void => {
    const { socket, head } = req.takeOver();
    const previous = shell.client;
    if (previous) {
      detach(shell, previous);
      previous.end(closeFrame(TAKEN_OVER, 'another client took the shell'));
    }
    clearTimeout(shell.detachedTimer);
    shell.client = socket;
    socket.setNoDelay(true);
    socket.on('error', () => {});
    const protocol = offered(req).includes('v5.channel.k8s.io') ? 'sec-websocket-protocol: v5.channel.k8s.io\r\n' : '';
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${acceptKey(key)}\r\n${protocol}\r\n`,
      'latin1',
    );
    const metadata: Record<string, unknown> = { shellId: shell.id, reconnected };
    if (shell.dropped > 0) metadata.bytesDropped = shell.dropped;
    socket.write(status({ kind: 'Status', apiVersion: 'v1', metadata, status: 'Success' }));
    const replay = shell.pending;
    shell.pending = [];
    shell.pendingBytes = 0;
    shell.dropped = 0;
    for (const bytes of replay) output(shell, bytes);
    if (shell.exit !== undefined) {
      finish(shell, socket);
      return;
    }
    const reader = new FrameReader(SHELL_FRAME_BYTES);
    const onData = (chunk: Buffer): void => {
      for (const frame of reader.feed(chunk)) input(shell, socket, frame.opcode, frame.payload);
      if (reader.broken) socket.end(closeFrame(reader.broken.code, reader.broken.reason));
    };
    socket.on('data', onData);
    socket.once('close', () => {
      socket.removeListener('data', onData);
      if (shell.client === socket) detach(shell, socket);
    });
    if (head.length > 0) onData(head);
  };

  const detach = (shell: Shell, socket: Socket): void => {
    if (shell.client !== socket) return;
    shell.client = undefined;
    shell.pty.resume();
    if (shell.exit === undefined) shell.detachedTimer = setTimeout(() => shell.pty.kill('SIGKILL'), DETACHED_MS).unref();
    else shells.delete(shell.id);
  };

  const input = (shell: Shell, socket: Socket, opcode: number, payload: Buffer): void => {
    if (opcode === OPCODE.ping) {
      socket.write(encodeFrame(OPCODE.pong, payload));
      return;
    }
    if (opcode === OPCODE.close) {
      // The connection closes; the shell stays for a client that comes back.
      socket.end(encodeFrame(OPCODE.close, payload.subarray(0, 2)));
      return;
    }
    if (opcode !== OPCODE.binary && opcode !== OPCODE.text) return;
    const channel = payload[0];
    const data = payload.subarray(1);
    if (channel === CHANNEL.stdin) shell.pty.write(data.toString('utf8'));
    else if (channel === CHANNEL.resize) resize(shell, data);
    else if (channel === CHANNEL.heartbeat) socket.write(message(CHANNEL.heartbeat, Buffer.alloc(0)));
    else if (channel === CHANNEL.close) {
      socket.write(message(CHANNEL.close, Buffer.alloc(0)));
      socket.end(closeFrame(CLOSE.normal, 'the shell was closed'));
      shell.pty.kill('SIGHUP');
      shells.delete(shell.id);
    } else socket.write(message(CHANNEL.stderr, Buffer.from(`berth: channel ${String(channel)} is not one a client sends\r\n`)));
  };

  /** Tells the client how the shell ended, then closes. */
  const finish = (shell: Shell, socket: Socket): void => {
    const exitCode = shell.exit ?? -1;
    const ended =
      exitCode === 0
        ? { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' }
        : {
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Failure',
            reason: 'NonZeroExitCode',
            message: `the shell exited with ${exitCode}`,
            details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
          };
    socket.write(status(ended));
    socket.end(closeFrame(CLOSE.normal, 'the shell exited'));
    shell.client = undefined;
    shells.delete(shell.id);
  };

  return {
    handle,
    killAll: () => {
      for (const shell of shells.values()) shell.pty.kill('SIGKILL');
    },
  };
}

function resize(shell: Shell, data: Buffer): void {
  try {
    const { width, height } = JSON.parse(data.toString('utf8')) as { width?: unknown; height?: unknown };
    if (typeof width === 'number' && typeof height === 'number' && width >= 1 && height >= 1 && width <= 10_000 && height <= 10_000) {
      shell.pty.resize(Math.floor(width), Math.floor(height));
    }
  } catch {
    // a resize that is not one changes nothing
  }
}

/** One channel message: a binary frame holding the channel byte and its payload. */
function message(channel: number, payload: Buffer): Buffer {
  const bytes = Buffer.allocUnsafe(payload.length + 1);
  bytes[0] = channel;
  payload.copy(bytes, 1);
  return encodeFrame(OPCODE.binary, bytes);
}

function status(value: Record<string, unknown>): Buffer {
  return message(CHANNEL.status, Buffer.from(JSON.stringify(value)));
}

function offered(req: ChannelRequest): string[] {
  const value = req.headers['sec-websocket-protocol'];
  if (typeof value !== 'string') return [];
  return value.split(',').map((one) => one.trim());
}
