import { toBerthError } from '../../core/errors.ts';
import { isNotification, type JsonRpcRequest } from '../../mcp/jsonrpc.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Lease } from '../../sessions/manager.ts';
import type { ClientSession } from './legacy-clients.ts';
import { modernCall } from './legacy-exchange.ts';
import { withoutSubscriptionId } from './legacy-wire.ts';

/** Tries of a listen stream refused at the session's cap, and the pause between: see relisten. */
const RELISTEN_ATTEMPTS = 5;
const RELISTEN_RETRY_MS = 50;

/** Keeps a `subscriptions/listen` open while the GET stream is, for what the client may want to hear. */
export function relisten(client: ClientSession, leaseOf: (client: ClientSession) => Promise<Lease>, logger: Logger): void {
  client.listen?.abort();
  client.listen = undefined;
  const stream = client.getStream;
  if (!stream || stream.closed) return;
  const caps = client.serverCapabilities as {
    tools?: { listChanged?: boolean };
    prompts?: { listChanged?: boolean };
    resources?: { listChanged?: boolean; subscribe?: boolean };
  };
  const notifications: Record<string, unknown> = {};
  if (caps.tools?.listChanged) notifications.toolsListChanged = true;
  if (caps.prompts?.listChanged) notifications.promptsListChanged = true;
  if (caps.resources?.listChanged) notifications.resourcesListChanged = true;
  if (caps.resources?.subscribe && client.subscriptions.size > 0) notifications.resourceSubscriptions = [...client.subscriptions];
  if (Object.keys(notifications).length === 0) return;
  const controller = new AbortController();
  client.listen = controller;
  const listen: JsonRpcRequest = { jsonrpc: '2.0', id: `berth-listen-${client.nextAsk++}`, method: 'subscriptions/listen', params: { notifications } };
  // The stream this one replaces ends first: both open at once would count twice against the session's cap on
  // listen streams. Its end reaches the sandbox a moment after it is over here, so a refusal at the cap is tried
  // again, briefly.
  const replaced = client.listenEnded ?? Promise.resolve();
  const feed = (async () => {
    await replaced;
    for (let attempt = 1; !controller.signal.aborted; attempt++) {
      const lease = await leaseOf(client);
      try {
        await modernCall(lease, client, listen, controller.signal, (note) => {
          if (!isNotification(note) || note.method === 'notifications/subscriptions/acknowledged') return undefined;
          return stream.send(withoutSubscriptionId(note));
        });
        return;
      } catch (error) {
        if (controller.signal.aborted || toBerthError(error).code !== 'limit_exceeded' || attempt === RELISTEN_ATTEMPTS) throw error;
      } finally {
        lease.release();
      }
      await new Promise((resolve) => setTimeout(resolve, RELISTEN_RETRY_MS));
    }
  })();
  client.listenEnded = feed.then(
    () => {},
    () => {},
  );
  feed.catch((error: unknown) => {
    if (controller.signal.aborted) return;
    // At a cap the client hears nothing on its GET stream, so berth's operator must: the message names the setting.
    if (toBerthError(error).code === 'limit_exceeded') logger.warn('legacy GET stream gets no notifications', { session: client.session, err: error });
    else logger.debug('legacy GET stream feed ended', { session: client.session, err: error });
  });
}
