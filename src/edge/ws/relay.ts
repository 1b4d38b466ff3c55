import type { Socket } from 'node:net';
import { CLOSE, closeFrame } from '../../core/websocket.ts';
import { FrameGate, type FrameLimits, type Violation } from './frame-gate.ts';

export interface RelayOptions {
  limits: FrameLimits;
  /** The peers agreed on an extension (Sec-WebSocket-Extensions in the 101). */
  extensions: boolean;
  /** Called once, when both connections are closed, with why it ended. */
  onEnd: (how: RelayEnd) => void;
}

export interface RelayEnd {
  /** The client broke a rule and was closed for it. */
  violation?: Violation;
  framesIn: number;
  framesOut: number;
}

/** How long a connection closing with a close frame has to send its last bytes before it is cut. */
const CLOSING_MS = 5000;

/**
 * Joins a client's WebSocket to the sandbox's, once both sides have said 101: bytes pass both ways untouched, each as
 * fast as the other side takes them (a side that does not read holds the other back, so nothing piles up in berth).
 * The client's frames pass through a FrameGate: one that breaks a rule is not passed, the client hears a close frame
 * saying why and the sandbox a close frame of its own, so each side sees whole frames to the end. When the sandbox's
 * side ends without closing (its session ended, its agent died), the client hears 1011 rather than a bare reset.
 */
export function relayWebSocket(client: Socket, clientHead: Buffer, upstream: Socket, upstreamHead: Buffer, options: RelayOptions): void {
  const fromClient = new FrameGate({ checked: true, limits: options.limits, extensions: options.extensions });
  const fromUpstream = new FrameGate({ checked: false, limits: options.limits, extensions: options.extensions });
  let violation: Violation | undefined;
  let ended = false;
  let closed = 0;
  let backpressured = false;
  let throttled: NodeJS.Timeout | undefined;

  client.setTimeout(0);
  client.setNoDelay(true);
  const resumeClient = (): void => {
    if (!backpressured && throttled === undefined && !client.destroyed) client.resume();
  };
  const finish = (): void => {
    if (++closed < 2) return;
    clearTimeout(throttled);
    options.onEnd({ ...(violation ? { violation } : {}), framesIn: fromClient.frames, framesOut: fromUpstream.frames });
  };
  client.once('close', finish);
  upstream.once('close', finish);
  const cut = (): void => {
    client.destroy();
    upstream.destroy();
  };
  /** Ends both sides: each hears `frame` first when it is between frames, then its connection closes. */
  const end = (toClient: Buffer | undefined, toUpstream: Buffer | undefined): void => {
    if (ended) return;
    ended = true;
    if (toClient && fromUpstream.atBoundary && !client.destroyed) client.end(toClient);
    else client.end();
    if (toUpstream && fromClient.atBoundary && !upstream.destroyed) upstream.end(toUpstream);
    else upstream.end();
    setTimeout(cut, CLOSING_MS).unref();
  };

  const fromClientBytes = (chunk: Buffer): void => {
    const gated = fromClient.feed(chunk);
    let full = false;
    for (const part of gated.pass) full = !upstream.write(part) || full;
    if (gated.violation) {
      violation = gated.violation;
      client.removeListener('data', fromClientBytes);
      end(closeFrame(violation.code, violation.reason), closeFrame(CLOSE.goingAway, 'the client was closed by berth', true));
      return;
    }
    if (full) {
      backpressured = true;
      client.pause();
    }
    if (gated.throttleMs > 0 && throttled === undefined) {
      client.pause();
      throttled = setTimeout(() => {
        throttled = undefined;
        resumeClient();
      }, gated.throttleMs);
    }
  };
  upstream.on('drain', () => {
    backpressured = false;
    resumeClient();
  });
  const fromUpstreamBytes = (chunk: Buffer): void => {
    fromUpstream.feed(chunk);
    if (!client.write(chunk)) upstream.pause();
  };
  client.on('drain', () => upstream.resume());

  client.on('data', fromClientBytes);
  upstream.on('data', fromUpstreamBytes);
  client.once('end', () => end(undefined, undefined));
  upstream.once('end', () =>
    end(fromUpstream.closeSeen ? undefined : closeFrame(CLOSE.internalError, "the session's sandbox closed the connection"), undefined),
  );
  client.on('error', cut);
  upstream.on('error', cut);
  if (upstreamHead.length > 0) fromUpstreamBytes(upstreamHead);
  if (clientHead.length > 0) fromClientBytes(clientHead);
}
