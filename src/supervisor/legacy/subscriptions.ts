import type { SessionClientLimits } from '../../core/channel.ts';
import { META_SUBSCRIPTION_ID } from '../../mcp/classify.ts';
import { capReached, LISTENERS, MAX_URI_CHARS } from '../caps.ts';
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
 * notifications to every stream that asked for them, tagged with that stream's subscription id. What it keeps is
 * bounded: open streams and distinct URIs by the session's caps, each URI by MAX_URI_CHARS.
 */
export class Subscriptions {
  readonly #peer: LegacyPeer;
  readonly #capabilities: Record<string, unknown>;
  readonly #limits: Pick<SessionClientLimits, 'subscriptions' | 'listeners'>;
  readonly #listeners = new Set<Listener>();
  readonly #resourceRefs = new Map<string, number>();
  /** The URIs the server was last told berth subscribes to. */
  readonly #subscribed = new Set<string>();
  /** Each URI's subscribe or unsubscribe under way. */
  readonly #syncing = new Map<string, Promise<void>>();

  constructor(peer: LegacyPeer, capabilities: Record<string, unknown>, limits: Pick<SessionClientLimits, 'subscriptions' | 'listeners'>) {
    this.#peer = peer;
    this.#capabilities = capabilities;
    this.#limits = limits;
  }

  listen(request: JsonRpcRequest, writer: ResponseWriter): void {
    if (this.#listeners.size >= this.#limits.listeners) {
      writer.fail('limit_exceeded', capReached('listeners', this.#limits.listeners, LISTENERS));
      return;
    }
    const wanted = (request.params?.notifications ?? {}) as Filter;
    const caps = this.#capabilities as {
      tools?: { listChanged?: boolean };
      prompts?: { listChanged?: boolean };
      resources?: { listChanged?: boolean; subscribe?: boolean };
    };
    const honored: Filter = {};
    if (wanted.toolsListChanged === true && caps.tools?.listChanged) honored.toolsListChanged = true;
    if (wanted.promptsListChanged === true && caps.prompts?.listChanged) honored.promptsListChanged = true;
    if (wanted.resourcesListChanged === true && caps.resources?.listChanged) honored.resourcesListChanged = true;
    if (Array.isArray(wanted.resourceSubscriptions) && caps.resources?.subscribe) {
      const uris = [...new Set(wanted.resourceSubscriptions.filter((uri): uri is string => typeof uri === 'string'))];
      const refused = this.#refusal(uris);
      if (refused) {
        writer.fail(refused.code, refused.message);
        return;
      }
      honored.resourceSubscriptions = uris;
      for (const uri of uris) this.#addRef(uri);
    }
    const listener: Listener = { id: request.id, honored, writer };
    this.#listeners.add(listener);
    writer.startStream();
    writer.notify({
      jsonrpc: '2.0',
      method: 'notifications/subscriptions/acknowledged',
      params: { notifications: honored, _meta: { [META_SUBSCRIPTION_ID]: request.id } },
    });
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

  /** Why a listener may not subscribe to `uris` (distinct), if it may not. */
  #refusal(uris: string[]): { code: 'invalid_params' | 'limit_exceeded'; message: string } | undefined {
    const long = uris.find((uri) => uri.length > MAX_URI_CHARS);
    if (long !== undefined)
      return { code: 'invalid_params', message: `a resource URI of ${long.length} characters is longer than the ${MAX_URI_CHARS} berth keeps` };
    const max = this.#limits.subscriptions;
    const fresh = uris.filter((uri) => !this.#resourceRefs.has(uri)).length;
    if (this.#resourceRefs.size + fresh > max) return { code: 'limit_exceeded', message: capReached('subscriptions', max, 'resources subscribed') };
    return undefined;
  }

  closeAll(): void {
    for (const listener of this.#listeners) listener.writer.end();
  }

  #addRef(uri: string): void {
    const count = this.#resourceRefs.get(uri) ?? 0;
    this.#resourceRefs.set(uri, count + 1);
    if (count === 0) this.#sync(uri);
  }

  #dropRef(uri: string): void {
    const count = (this.#resourceRefs.get(uri) ?? 1) - 1;
    if (count > 0) {
      this.#resourceRefs.set(uri, count);
      return;
    }
    this.#resourceRefs.delete(uri);
    this.#sync(uri);
  }

  /**
   * Tells the server whether berth wants `uri`, once the last word on it has been answered. A listener that replaces
   * another drops and takes a URI within a moment: sent at once, the unsubscribe and the subscribe could reach an
   * HTTP server in either order and leave it unsubscribed. One at a time, each sent only if it still changes anything.
   */
  #sync(uri: string): void {
    const next = (this.#syncing.get(uri) ?? Promise.resolve()).then(async () => {
      const wanted = this.#resourceRefs.has(uri);
      if (wanted === this.#subscribed.has(uri)) return;
      if (wanted) this.#subscribed.add(uri);
      else this.#subscribed.delete(uri);
      await this.#peer.call(wanted ? 'resources/subscribe' : 'resources/unsubscribe', { uri }, SUBSCRIBE_TIMEOUT_MS).catch(() => {});
    });
    this.#syncing.set(uri, next);
    void next.then(() => {
      if (this.#syncing.get(uri) === next) this.#syncing.delete(uri);
    });
  }
}
