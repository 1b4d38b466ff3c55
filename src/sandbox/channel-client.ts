import { CHANNEL_HEALTH_PATH, CHANNEL_IDLE_MS } from '../core/channel.ts';
import { abortError, Http1Client, netConnector, type Connector } from '../core/http1-client.ts';
import type { Http1Headers } from '../core/http1-wire.ts';
import { openTunnel, type TunnelAnswer } from '../core/tunnel.ts';
import type { ChannelEndpoint, Sandbox } from './driver.ts';

const clients = new WeakMap<Sandbox, Http1Client>();

/**
 * The host side of a sandbox's channel: its keep-alive connections over its Unix socket (or those the sandbox dials
 * in), closed when the sandbox ends. Concurrent calls each get their own connection (no pipelining, no cap), so a
 * long answer never holds up another, and closing one call's connection cancels exactly that call.
 */
export function channelClient(sandbox: Sandbox): Http1Client {
  let client = clients.get(sandbox);
  if (!client) {
    const created = new Http1Client(connectorOf(sandbox.channel), { idleMs: CHANNEL_IDLE_MS, peer: "the sandbox's channel" });
    client = created;
    clients.set(sandbox, created);
    void sandbox.exited.then(() => created.close('the sandbox has ended'));
  }
  return client;
}

/**
 * Opens a keep-alive connection to a sandbox's channel and asks its health, so the connection waits in the pool for
 * the sandbox's first real request (a pooled sandbox's session skips the connect and the supervisor's first
 * exchange). A failure is the sandbox's own to report when it is used; it is not thrown here.
 */
export async function primeChannel(sandbox: Sandbox): Promise<void> {
  try {
    const answer = await channelClient(sandbox).request({ method: 'GET', path: CHANNEL_HEALTH_PATH, headers: {} });
    if (!answer.whole) answer.body.resume();
  } catch {
    // reported by the sandbox itself when a session uses it
  }
}

/**
 * Asks the sandbox's channel for an upgrade at `path` on a connection of its own (never one of the pool's), which
 * becomes the tunnel's for as long as it lasts; see core/tunnel.ts.
 */
export function channelTunnel(
  sandbox: Sandbox,
  request: { path: string; headers: Http1Headers },
  signal: AbortSignal,
  timeoutMs: number,
): Promise<TunnelAnswer> {
  return openTunnel(connectorOf(sandbox.channel), request, signal, timeoutMs);
}

function connectorOf(channel: ChannelEndpoint): Connector {
  if ('socketPath' in channel) return netConnector({ path: channel.socketPath });
  // A call that goes away while it waits for the sandbox to dial in stops waiting at once; the connection that
  // arrives later is closed.
  return (signal) =>
    new Promise((resolve, reject) => {
      let settled = false;
      const onAbort = (): void => {
        settled = true;
        reject(abortError(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      channel.connect((error, socket) => {
        signal.removeEventListener('abort', onAbort);
        if (settled) socket?.destroy();
        else if (error || !socket) reject(error ?? new Error('the sandbox gave no channel connection'));
        else resolve(socket);
        settled = true;
      });
    });
}
