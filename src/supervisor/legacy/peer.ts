import type { JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../../mcp/jsonrpc.ts';
import type { PeerCall } from '../stdio-peer.ts';

/** What the bridge hears about one request it sent to a legacy server. */
export interface BridgeSink extends PeerCall {
  /**
   * A request the server sent while serving this one. Only transports that say which request a server request
   * belongs to (Streamable HTTP: the request's own SSE stream) call this; others hand server requests to the
   * bridge unattributed.
   */
  onServerRequest?(request: JsonRpcRequest): void;
}

/** A legacy server, over stdio or Streamable HTTP, as the bridge drives it. */
export interface LegacyPeer {
  request(message: JsonRpcRequest, sink: BridgeSink): number;
  /** Stops a request: the server is told (`notifications/cancelled`) and its answer will be dropped. */
  cancel(id: number, reason: string): void;
  notify(message: JsonRpcNotification): void;
  /** Answers a request the server sent. */
  respond(message: JsonRpcResponse): void;
  /** One of berth's own requests (initialize, resources/subscribe, logging/setLevel). */
  call(method: string, params: Record<string, unknown> | undefined, timeoutMs: number): Promise<JsonRpcResponse>;
}
