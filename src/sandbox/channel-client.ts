import { CHANNEL_IDLE_MS } from '../core/channel.ts';
import { abortError, Http1Client, netConnector, type Connector } from '../core/http1-client.ts';
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

function connectorOf(channel: ChannelEndpoint): Connector {
  if ('socketPath' in channel) return netConnector({ path: channel.socketPath });
  return (signal) =>
    new Promise((resolve, reject) =>
      channel.connect((error, socket) => {
        if (error || !socket) reject(error ?? new Error('the sandbox gave no channel connection'));
        else if (signal.aborted) {
          socket.destroy();
          reject(abortError(signal));
        } else resolve(socket);
      }),
    );
}
