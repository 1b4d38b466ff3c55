import type { Socket } from 'node:net';
import { abortError, type Connector } from './http1-client.ts';
import { MAX_HEAD_BYTES } from './http1-reader.ts';
import { parseHead, requestHead, type Http1Headers } from './http1-wire.ts';

/** What a peer answered an upgrade with: 101 and the connection, now its protocol's, or a refusal. */
export type TunnelAnswer =
  | { upgraded: true; status: 101; headers: Http1Headers; socket: Socket; head: Buffer }
  | { upgraded: false; status: number; headers: Http1Headers; body: Buffer };

/** How much of a refusal's body is kept, to say why. */
const MAX_REFUSAL_BYTES = 16 * 1024;

export class TunnelError extends Error {}

/**
 * Asks for an upgrade on a fresh connection from `connect` (`GET path` with `Connection: upgrade`, and the
 * `Upgrade` the headers name) and resolves once the peer's head is in, within `timeoutMs`: with the connection
 * and the bytes already past the head on 101, or with the refusal and the start of its body. Aborting `signal`
 * before then closes the connection. A peer that breaks HTTP, or closes first, fails with a TunnelError.
 */
export async function openTunnel(
  connect: Connector,
  request: { path: string; headers: Http1Headers },
  signal: AbortSignal,
  timeoutMs: number,
): Promise<TunnelAnswer> {
  const socket = await connect(signal);
  return new Promise<TunnelAnswer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refusal: { status: number; headers: Http1Headers; length: number } | undefined;
    const timer = setTimeout(() => fail(new TunnelError(`no answer to the upgrade within ${timeoutMs} ms`)), timeoutMs);
    const onAbort = (): void => fail(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.removeListener('error', onError);
    };
    const fail = (error: Error): void => {
      done();
      socket.destroy();
      reject(error);
    };
    const refuse = (body: Buffer): void => {
      done();
      socket.destroy();
      const answer = refusal as { status: number; headers: Http1Headers };
      resolve({ upgraded: false, status: answer.status, headers: answer.headers, body: body.subarray(0, MAX_REFUSAL_BYTES) });
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      const bytes = Buffer.concat(chunks, size);
      if (refusal) {
        if (size >= refusal.length) refuse(bytes);
        return;
      }
      const end = bytes.indexOf('\r\n\r\n');
      if (end === -1) {
        if (size > MAX_HEAD_BYTES) fail(new TunnelError(`an answer head over ${MAX_HEAD_BYTES} bytes`));
        return;
      }
      const head = parseHead(bytes.toString('latin1', 0, end));
      if (typeof head === 'string') return fail(new TunnelError(`an answer that breaks HTTP/1.1: ${head}`));
      const rest = bytes.subarray(end + 4);
      if (head.status === 101) {
        done();
        resolve({ upgraded: true, status: 101, headers: head.headers, socket, head: rest });
        return;
      }
      refusal = {
        status: head.status,
        headers: head.headers,
        length: typeof head.framing === 'number' ? Math.min(head.framing, MAX_REFUSAL_BYTES) : MAX_REFUSAL_BYTES,
      };
      chunks.length = 0;
      chunks.push(rest);
      size = rest.length;
      if (size >= refusal.length) refuse(rest);
    };
    const onClose = (): void => {
      if (refusal) refuse(Buffer.concat(chunks, size));
      else fail(new TunnelError('the connection closed before an answer to the upgrade'));
    };
    const onError = (error: Error): void => fail(new TunnelError(`the connection failed: ${error.message}`));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onError);
    try {
      socket.write(requestHead({ method: 'GET', path: request.path, headers: { ...request.headers, connection: 'upgrade' } }), 'latin1');
    } catch (error) {
      fail(error as Error);
    }
  });
}

/** Joins two connections: bytes pass both ways as fast as each side takes them, and either one's end ends both. */
export function joinSockets(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const end = (): void => {
    a.destroy();
    b.destroy();
  };
  a.once('close', end);
  b.once('close', end);
  a.on('error', end);
  b.on('error', end);
}
