import type { Socket } from 'node:net';
import { Pool } from 'undici';
import { CHANNEL_IDLE_MS } from '../core/channel.ts';
import type { ChannelEndpoint, Sandbox } from './driver.ts';

const clients = new WeakMap<Sandbox, Pool>();

/**
 * The host side of a sandbox's channel: a keep-alive connection pool per sandbox over its Unix socket, closed when
 * the sandbox ends. Concurrent calls each get their own connection (no pipelining, no cap), so a long answer never
 * holds up another, and destroying one call's connection cancels exactly that call.
 */
export function channelClient(sandbox: Sandbox): Pool {
  let client = clients.get(sandbox);
  if (!client) {
    const created = new Pool('http://sandbox', {
      ...channelOptions(sandbox.channel),
      connections: null,
      pipelining: 1,
      keepAliveTimeout: CHANNEL_IDLE_MS,
      keepAliveMaxTimeout: CHANNEL_IDLE_MS,
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    client = created;
    clients.set(sandbox, created);
    void sandbox.exited.then(() => created.destroy().catch(() => {}));
  }
  return client;
}

function channelOptions(channel: ChannelEndpoint): Pick<Pool.Options, 'socketPath' | 'connect'> {
  if ('socketPath' in channel) return { socketPath: channel.socketPath };
  return { connect: (_options, callback) => channel.connect((error, socket) => (error ? callback(error, null) : callback(null, socket as Socket))) };
}
