import type { Http1ServerRequest, Http1ServerResponse } from '../core/http1-server.ts';
import type { SupervisorSpec } from '../core/channel.ts';
import { authorityOf, Http1Client, HttpProtocolError, netConnector } from '../core/http1-client.ts';
import { forwardableHeaders, replyError } from './reply.ts';
import { crashMessage, type ServerExit } from './server-process.ts';

export interface HttpUpstreamOptions {
  /** The server's path requests go to; the runtime's MCP path when not given. */
  path?: string;
  /** Headers to set on each forwarded request, beside those the channel request carries. */
  addHeaders?: (req: Http1ServerRequest) => Record<string, string>;
  /** Called once each exchange is over, answered or not. */
  onDone?: () => void;
}

/** How long an idle connection to the server is kept, unless the server's Keep-Alive says it closes sooner. */
const IDLE_MS = 60_000;

/**
 * Forwards channel requests to a server listening on a port inside the sandbox. Bodies stream both ways untouched
 * (an answer that arrives whole leaves whole, in one write); when the channel request goes away before its answer
 * ends (the client disconnected), the upstream connection closes, which is how a Streamable HTTP server (or an http
 * agent) learns of cancellation. An answer that breaks HTTP fails its call, never the supervisor.
 */
export function createHttpUpstream(spec: SupervisorSpec, host: string, serverExit: Promise<ServerExit>, options: HttpUpstreamOptions = {}) {
  const client = new Http1Client(netConnector({ host, port: spec.port }), { idleMs: IDLE_MS, peer: `runtime "${spec.runtime}"'s server` });
  const authority = authorityOf(host, spec.port);
  const path = options.path ?? spec.path;

  return (req: Http1ServerRequest, res: Http1ServerResponse): void => {
    const headers = { ...forwardableHeaders(req.headers), ...options.addHeaders?.(req) };
    headers.host = authority;
    const controller = new AbortController();
    if (options.onDone) res.once('close', options.onDone);
    res.once('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    // A request without a length or chunks has no body (RFC 9112 section 6.3).
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    client
      .request({ method: req.method, path, headers, body: hasBody ? (req.whole ?? req.body()) : undefined, keepBody: true, signal: controller.signal })
      .then(
        (answer) => {
          if (res.destroyed) {
            answer.body.destroy();
            return;
          }
          res.writeHead(answer.statusCode, forwardableHeaders(answer.headers));
          if (answer.whole) {
            res.end(answer.whole);
            return;
          }
          res.relay(answer.body);
        },
        async (error: unknown) => {
          if (res.destroyed) return;
          if (error instanceof HttpProtocolError) {
            replyError(res, 'sandbox_unavailable', error.message);
            return;
          }
          // A crash shows up on the socket before the exit status arrives; wait a moment so the error says which it was.
          const exit = await Promise.race([serverExit, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 250))]);
          if (res.destroyed) return;
          if (exit) replyError(res, 'server_crashed', crashMessage(spec.runtime, exit));
          else replyError(res, 'sandbox_unavailable', `runtime "${spec.runtime}": its server closed the connection before answering`);
        },
      );
  };
}
