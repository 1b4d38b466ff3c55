/**
 * Tools for hostile-client tests: raw sockets that send what no well-behaved HTTP client would, and a bystander
 * session whose state must outlive every attack.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import type { BerthNode } from './berth.ts';
import { connectSession, type SessionClient } from './mcp.ts';

export interface RawAnswer {
  /** 0 when the connection closed without an answer. */
  status: number;
  /** The answer as it came, head and body. */
  text: string;
}

function answerOf(text: string): RawAnswer {
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text };
}

/** A connection to the node, its errors swallowed (a reset is an outcome here, not a failure). */
export function openSocket(node: BerthNode): Socket {
  const { hostname, port } = new URL(node.url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => {});
  return socket;
}

/** What comes back on `socket` until it closes, or until `timeoutMs` passes and the test closes it. */
function answerOn(socket: Socket, timeoutMs: number): Promise<RawAnswer> {
  return new Promise((resolve) => {
    let got = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (got += chunk));
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answerOf(got));
    });
  });
}

/** Sends `text` as it is on a fresh connection and resolves with what came back once the node closed it. */
export function sendRaw(node: BerthNode, text: string | Buffer, timeoutMs = 30_000): Promise<RawAnswer> {
  const socket = openSocket(node);
  const answer = answerOn(socket, timeoutMs);
  socket.end(text);
  return answer;
}

/**
 * Sends a chunked body of `totalBytes` to `path`, writing it all whatever the node answers first, as a client that
 * sends its whole body before reading does; resolves with the answer once the node closes or `timeoutMs` passes.
 */
export function floodChunked(
  node: BerthNode,
  path: string,
  headers: Record<string, string>,
  totalBytes: number,
  method = 'POST',
  timeoutMs = 20_000,
): Promise<RawAnswer> {
  const socket = openSocket(node);
  const answer = answerOn(socket, timeoutMs);
  const head = Object.entries({ host: new URL(node.url).host, 'transfer-encoding': 'chunked', connection: 'close', ...headers })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.write(`${method} ${path} HTTP/1.1\r\n${head}\r\n`);
  const chunk = `${(16 * 1024).toString(16)}\r\n${'a'.repeat(16 * 1024)}\r\n`;
  let sent = 0;
  const pump = (): void => {
    while (sent < totalBytes && !socket.destroyed) {
      sent += 16 * 1024;
      if (!socket.write(chunk)) {
        socket.once('drain', pump);
        return;
      }
    }
    if (!socket.destroyed) socket.end('0\r\n\r\n');
  };
  pump();
  return answer;
}

/**
 * A session minding its own business through every attack: it counts, and `check` proves the node still answers
 * and the session still holds its count, one higher each time.
 */
export interface Bystander {
  check(what: string): Promise<void>;
  close(): Promise<void>;
}

export async function bystander(node: BerthNode, runtime: string): Promise<Bystander> {
  const session: SessionClient = await connectSession(node.url, runtime);
  let count = ((await session.call('increment')) as { count: number }).count;
  return {
    check: async (what) => {
      const health = await fetch(`${node.url}/healthz`);
      assert.equal(health.status, 200, `${what}: the node no longer answers /healthz`);
      assert.equal(node.process.exitCode, null, `${what}: the node exited`);
      const next = ((await session.call('increment')) as { count: number }).count;
      assert.equal(next, count + 1, `${what}: the bystander session lost its state`);
      count = next;
    },
    close: () => session.close(),
  };
}
