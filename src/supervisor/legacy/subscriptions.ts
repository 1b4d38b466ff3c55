import { META_SUBSCRIPTION_ID } from '../../mcp/classify.ts';
import type { JsonRpcId, JsonRpcNotification, JsonRpcRequest } from '../../mcp/jsonrpc.ts';
import type { ResponseWriter } from '../response-writer.ts';
import type { LegacyPeer } from './peer.ts';

const KEEP_ALIVE_MS = 20_000;
const SUBSCRIBE_TIMEOUT_MS = 30_000;

interface Filter {
  toolsListChanged?: boolean;
  promptsListChanged?: boolean;
  resourcesListChanged?: boolean;
  resourceSubscriptions?: string[];
}

interface Listener {
  id: JsonRpcId;
  honored: Filter;
  writer: ResponseWriter;
}

const LIST_CHANGED: Record<string, keyof Filter> = {
  'notifications/tools/list_changed': 'toolsListChanged',
  'notifications/prompts/list_changed': 'promptsListChanged',
  'notifications/resources/list_changed': 'resourcesListChanged',
};

/**
 * `subscriptions/listen` for a legacy server: berth acknowledges what the server can deliver, subscribes to
 * resources on the listeners' behalf (once per URI, however many listen), and writes the server's change
 * notifications to every stream that asked for them, tagged with that stream's subscription id.
 */
export class Subscriptions {
  readonly #peer: LegacyPeer;
  readonly #capabilities: Record<string, unknown>;
  readonly #listeners = new Set<Listener>();
  readonly #resourceRefs = new Map<string, number>();

  constructor(peer: LegacyPeer, capabilities: Record<string, unknown>) {
    this.#peer = peer;
    this.#capabilities = capabilities;
  }

  listen(request: JsonRpcRequest, writer: ResponseWriter): void {
    const wanted = (request.params?.notifications ?? {}) as Filter;
    const caps = this.#capabilities as { tools?: { listChanged?: boolean }; prompts?: { listChanged?: boolean }; resources?: { listChanged?: boolean; subscribe?: boolean } };
    const honored: Filter = {};
    if (wanted.toolsListChanged === true && caps.tools?.listChanged) honored.toolsListChanged = true;
    if (wanted.promptsListChanged === true && caps.prompts?.listChanged) honored.promptsListChanged = true;
    if (wanted.resourcesListChanged === true && caps.resources?.listChanged) honored.resourcesListChanged = true;
    if (Array.isArray(wanted.resourceSubscriptions) && caps.resources?.subscribe) {
      honored.resourceSubscriptions = wanted.resourceSubscriptions.filter((uri): uri is string => typeof uri === 'string');
      for (const uri of honored.resourceSubscriptions) this.#addRef(uri);
    }
    const listener: Listener = { id: request.id, honored, writer };
    this.#listeners.add(listener);
    writer.startStream();
    writer.notify({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { notifications: honored, _meta: { [META_SUBSCRIPTION_ID]: request.id } } });
    const keepAlive = setInterval(() => writer.keepAlive(), KEEP_ALIVE_MS);
    keepAlive.unref();
    writer.onDone(() => {
      clearInterval(keepAlive);
      this.#listeners.delete(listener);
      for (const uri of honored.resourceSubscriptions ?? []) this.#dropRef(uri);
    });
  }

  /** A change notification from the server, to every listener that asked for its kind. */
  deliver(notification: JsonRpcNotification): void {
    const kind = LIST_CHANGED[notification.method];
    const uri = notification.method === 'notifications/resources/updated' ? notification.params?.uri : undefined;
    if (kind === undefined && uri === undefined) return;
    for (const listener of this.#listeners) {
      const wants = kind !== undefined ? listener.honored[kind] === true : listener.honored.resourceSubscriptions?.includes(String(uri)) === true;
      if (!wants) continue;
      const params = notification.params ?? {};
      const meta = (params._meta ?? {}) as Record<string, unknown>;
      listener.writer.notify({ ...notification, params: { ...params, _meta: { ...meta, [META_SUBSCRIPTION_ID]: listener.id } } });
    }
  }

  closeAll(): void {
    for (const listener of this.#listeners) listener.writer.end();
  }

  #addRef(uri: string): void {
    const count = this.#resourceRefs.get(uri) ?? 0;
    this.#resourceRefs.set(uri, count + 1);
    if (count === 0) void this.#peer.call('resources/subscribe', { uri }, SUBSCRIBE_TIMEOUT_MS).catch(() => {});
  }

  #dropRef(uri: string): void {
    const count = (this.#resourceRefs.get(uri) ?? 1) - 1;
    if (count > 0) {
      this.#resourceRefs.set(uri, count);
      return;
    }
    this.#resourceRefs.delete(uri);
    void this.#peer.call('resources/unsubscribe', { uri }, SUBSCRIBE_TIMEOUT_MS).catch(() => {});
  }
}
