import type { JsonRpcResponse } from '../../mcp/jsonrpc.ts';
import type { Principal } from '../auth/principal.ts';
import type { SseOut } from './sse-out.ts';

/** A legacy client's MCP session, as the facade keeps it between its requests. */
export interface ClientSession {
  /** Its Mcp-Session-Id: its berth session's id, unless another client already spoke for that session. */
  id: string;
  /** The berth session it is in; clients of a principal whose sessions follow it share one. */
  session: string;
  /** True when the session is its principal's own, which outlives any one client of it. */
  shared: boolean;
  /** Who initialized it; no one else may use its Mcp-Session-Id. */
  principal: Principal;
  runtime: string;
  endpoint: string | undefined;
  protocolVersion: string;
  capabilities: Record<string, unknown>;
  clientInfo: unknown;
  serverCapabilities: Record<string, unknown>;
  logLevel?: string;
  subscriptions: Set<string>;
  /** Its requests now waiting on its answers to the server's questions. */
  waitingInputs: number;
  /** Our requests to the client, waiting for the responses it POSTs. */
  asked: Map<string, (response: JsonRpcResponse) => void>;
  /** The client's requests in flight, by id, so `notifications/cancelled` can stop them. */
  inFlight: Map<string, AbortController>;
  getStream?: SseOut;
  listen?: AbortController;
  /** Settles once the listen stream that feeds the GET stream is over. */
  listenEnded?: Promise<void>;
  nextAsk: number;
}

/**
 * The legacy clients berth knows, by Mcp-Session-Id and by the berth session they are in (oldest first): the
 * per-session caps count across a session's clients.
 */
export class LegacyClients {
  readonly #clients = new Map<string, ClientSession>();
  readonly #bySession = new Map<string, ClientSession[]>();

  get(id: string): ClientSession | undefined {
    return this.#clients.get(id);
  }

  /** The clients in `session`, oldest first. */
  clientsOf(session: string): ClientSession[] {
    return [...(this.#bySession.get(session) ?? [])];
  }

  remember(client: ClientSession): void {
    this.#clients.set(client.id, client);
    this.#bySession.set(client.session, [...(this.#bySession.get(client.session) ?? []), client]);
  }

  /** Drops the client from berth's memory; nothing else of it ends. */
  drop(client: ClientSession): void {
    if (this.#clients.get(client.id) === client) this.#clients.delete(client.id);
    const others = (this.#bySession.get(client.session) ?? []).filter((other) => other !== client);
    if (others.length > 0) this.#bySession.set(client.session, others);
    else this.#bySession.delete(client.session);
  }

  subscriptionsIn(session: string): number {
    let count = 0;
    for (const client of this.#bySession.get(session) ?? []) count += client.subscriptions.size;
    return count;
  }

  waitingIn(session: string): number {
    let count = 0;
    for (const client of this.#bySession.get(session) ?? []) count += client.waitingInputs;
    return count;
  }

  forget(client: ClientSession): void {
    this.drop(client);
    client.listen?.abort();
    client.getStream?.close();
    for (const controller of client.inFlight.values()) controller.abort();
  }
}
