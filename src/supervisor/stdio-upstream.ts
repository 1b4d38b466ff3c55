import type { Http1ServerRequest, Http1ServerResponse } from '../core/http1-server.ts';
import { META_LOG_LEVEL } from '../mcp/classify.ts';
import { RPC } from '../core/rpc-codes.ts';
import { isNotification, isRequest, type JsonRpcMessage } from '../mcp/jsonrpc.ts';
import type { ListenerSlots } from './caps.ts';
import { serveClientMessage, type ResponseWriter, type SupervisorLog } from './response-writer.ts';
import { crashMessage, type ServerExit } from './server-process.ts';
import { failOnExit, type PeerCall, type PeerFailure, type StdioPeer } from './stdio-peer.ts';

/** A channel call to a modern stdio server: where its notifications and answer go. */
class Call implements PeerCall {
  readonly writer: ResponseWriter;
  readonly wantsLogs: boolean;

  constructor(writer: ResponseWriter, wantsLogs: boolean) {
    this.writer = writer;
    this.wantsLogs = wantsLogs;
  }

  onNotification(message: JsonRpcMessage): void {
    this.writer.notify(message);
  }

  onResponse(message: Parameters<PeerCall['onResponse']>[0]): void {
    this.writer.finish(message);
  }

  onCancelledByServer(): void {
    this.writer.end();
  }

  onFailure(message: string, code: PeerFailure = 'sandbox_unavailable'): void {
    this.writer.fail(code, message);
  }
}

/**
 * Serves channel requests from a modern (2026-07-28) server that speaks MCP over stdin/stdout: requests pass
 * through with their ids and tokens kept apart by the StdioPeer. A client that goes away gets
 * `notifications/cancelled` sent on its behalf, which is how stdio learns of cancellation.
 */
export class StdioUpstream {
  readonly #peer: StdioPeer;
  readonly #runtime: string;
  readonly #calls = new Set<Call>();
  readonly #listeners: ListenerSlots;
  readonly #log: SupervisorLog;
  #exit: ServerExit | undefined;

  constructor(options: { runtime: string; peer: StdioPeer; exited: Promise<ServerExit>; listeners: ListenerSlots; log: SupervisorLog }) {
    const { runtime, exited } = options;
    this.#runtime = runtime;
    this.#peer = options.peer;
    this.#listeners = options.listeners;
    this.#log = options.log;
    void exited.then((exit) => (this.#exit = exit));
    failOnExit(this.#peer, exited, (call, exit) => call.onFailure?.(crashMessage(runtime, exit), 'server_crashed'));
  }

  handle = (req: Http1ServerRequest, res: Http1ServerResponse): void => {
    serveClientMessage(req, res, this.#log, (writer, message) => this.#fromClient(writer, message));
  };

  #fromClient(writer: ResponseWriter, message: JsonRpcMessage): void {
    if (this.#exit) {
      writer.fail('server_crashed', crashMessage(this.#runtime, this.#exit));
      return;
    }
    if (!isRequest(message)) {
      // berth cancels a call by ending its channel request (see edge/mcp/in-flight.ts); a client's own
      // cancellation names ids the server never saw (the peer renumbers requests), so it is not passed on.
      if (isNotification(message) && message.method !== 'notifications/cancelled') this.#peer.notify(message);
      writer.finishEmpty(202);
      return;
    }
    if (message.method === 'subscriptions/listen') {
      const refused = this.#listeners.take((free) => writer.onDone(free));
      if (refused !== undefined) {
        writer.fail('limit_exceeded', refused);
        return;
      }
    }
    const meta = message.params?._meta as Record<string, unknown> | undefined;
    const call = new Call(writer, typeof meta?.[META_LOG_LEVEL] === 'string');
    this.#calls.add(call);
    const id = this.#peer.request(message, call);
    writer.onAbandoned(() => this.#peer.cancel(id, 'the client disconnected'));
    writer.onDone(() => this.#calls.delete(call));
  }

  /** What the server sends that is not part of one answer (the peer hands it here). */
  fromServer = (message: JsonRpcMessage): void => {
    if (isRequest(message)) {
      // A modern server sends no requests (2026-07-28 asks through input_required results); refuse, do not hang it.
      this.#peer.respond({
        jsonrpc: '2.0',
        id: message.id,
        error: { code: RPC.METHOD_NOT_FOUND, message: `berth does not relay ${message.method}: 2026-07-28 servers ask through input_required results` },
      });
      return;
    }
    if (isNotification(message) && message.method === 'notifications/message') {
      // stdio gives log lines no request id: every call that asked for logs hears them (all are this session's).
      for (const call of this.#calls) if (call.wantsLogs) call.writer.notify(message);
    }
  };
}
