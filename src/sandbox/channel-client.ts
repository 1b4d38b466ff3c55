import { CHANNEL_IDLE_MS } from '../core/channel.ts';
import { ChannelHttpClient } from './channel-http.ts';
import type { Sandbox } from './driver.ts';

const clients = new WeakMap<Sandbox, ChannelHttpClient>();

/**
 * The host side of a sandbox's channel: its keep-alive connections over its Unix socket, closed when the sandbox
 * ends. Concurrent calls each get their own connection (no pipelining, no cap), so a long answer never holds up
 * another, and closing one call's connection cancels exactly that call.
 */
export function channelClient(sandbox: Sandbox): ChannelHttpClient {
  let client = clients.get(sandbox);
  if (!client) {
    const created = new ChannelHttpClient(sandbox.channel, CHANNEL_IDLE_MS);
    client = created;
    clients.set(sandbox, created);
    void sandbox.exited.then(() => created.close());
  }
  return client;
}
