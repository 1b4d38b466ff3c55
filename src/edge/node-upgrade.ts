import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import { NodeAnswer, toResponse, UpgradeAnswer, type Answer } from '../core/answer.ts';
import { BerthError } from '../core/errors.ts';
import { errorResponse } from '../core/http.ts';
import { answerHead } from '../core/http1-wire.ts';
import { readUpTo } from '../core/read-up-to.ts';
import { PLAIN_HOST } from './host-check.ts';
import type { Inbound } from '../core/inbound.ts';
import { NodeInbound } from './node-inbound.ts';

type InboundHandler = (inbound: Inbound) => Promise<Answer>;

/** The most of a refusal's body written to a client that asked for an upgrade. */
const MAX_REFUSAL_BYTES = 64 * 1024;

/**
 * A request asking to upgrade its connection (node:http's `upgrade` event), through the same edge as every other:
 * an UpgradeAnswer takes the connection over; any other answer is written as a plain HTTP answer, and the connection
 * closes after it (its bytes past the request are the new protocol's, which nobody agreed to).
 */
export async function serveUpgrade(handler: InboundHandler, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  socket.on('error', () => {});
  const controller = new AbortController();
  const onClose = (): void => controller.abort();
  socket.once('close', onClose);
  const answer = await answerFor(handler, req, controller.signal);
  socket.removeListener('close', onClose);
  if (answer instanceof UpgradeAnswer) {
    if (socket.destroyed) answer.abandon();
    else answer.take(socket as Socket, head);
    return;
  }
  if (socket.destroyed) return;
  await writeRefusal(socket, answer);
}

async function answerFor(handler: InboundHandler, req: IncomingMessage, signal: AbortSignal): Promise<Answer> {
  const target = req.url ?? '/';
  if (!target.startsWith('/')) return errorResponse(new BerthError('invalid_request', 'request target must be a path starting with "/"'));
  if (req.method !== 'GET') return errorResponse(new BerthError('method_not_allowed', `an upgrade is a GET, not ${req.method}`));
  if (req.headers.host === undefined) return errorResponse(new BerthError('invalid_request', 'an upgrade must carry a Host header'));
  const host = PLAIN_HOST.test(req.headers.host) ? req.headers.host : 'localhost';
  return handler(new NodeInbound(req, 'GET', new URL(`http://${host}${target}`), signal, false, true));
}

/** Writes `answer` whole (its body cut at MAX_REFUSAL_BYTES) with `connection: close`, then ends the connection. */
async function writeRefusal(socket: Duplex, answer: Answer): Promise<void> {
  const node = answer instanceof NodeAnswer ? answer : undefined;
  const response = node ? undefined : toResponse(answer);
  const headers: Record<string, string | string[]> = {};
  if (node) Object.assign(headers, node.headers);
  else response?.headers.forEach((value, name) => (headers[name] = value));
  let body: Buffer;
  if (node) body = node.body === null ? Buffer.alloc(0) : Buffer.isBuffer(node.body) ? node.body : await readCapped(node.body);
  else body = Buffer.from((await response?.arrayBuffer()) ?? new ArrayBuffer(0)).subarray(0, MAX_REFUSAL_BYTES);
  const status = answer.status;
  for (const name of Object.keys(headers)) if (name.toLowerCase() === 'content-length' || name.toLowerCase() === 'transfer-encoding') delete headers[name];
  const head = answerHead(status, STATUS_CODES[status] ?? '', headers, `content-length: ${body.length}\r\nconnection: close\r\n`);
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
}

/** The start of a refusal's streamed body, at most MAX_REFUSAL_BYTES. */
async function readCapped(body: Readable): Promise<Buffer> {
  const read = await readUpTo(body, MAX_REFUSAL_BYTES);
  body.destroy();
  if (read instanceof Error) return Buffer.alloc(0);
  return (Array.isArray(read) ? Buffer.concat(read) : read).subarray(0, MAX_REFUSAL_BYTES);
}
