import { Agent, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { SupervisorSpec } from '../core/channel.ts';
import { forwardableHeaders, replyError } from './reply.ts';
import { crashMessage, type ServerExit } from './server-process.ts';

export interface HttpUpstreamOptions {
  /** The server's path requests go to; the runtime's MCP path when not given. */
  path?: string;
  /** Headers to set on each forwarded request, beside those the channel request carries. */
  addHeaders?: (req: IncomingMessage) => Record<string, string>;
  /** Called once each exchange is over, answered or not. */
  onDone?: () => void;
}

/**
 * Forwards channel requests to a server listening on a port inside the sandbox. Bodies stream both ways untouched;
 * when the channel request goes away before its answer ends (the client disconnected), the upstream request is
 * destroyed, which is how a Streamable HTTP server (or an http agent) learns of cancellation.
 */
export function createHttpUpstream(spec: SupervisorSpec, host: string, serverExit: Promise<ServerExit>, options: HttpUpstreamOptions = {}) {
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  const authority = host.includes(':') ? `[${host}]:${spec.port}` : `${host}:${spec.port}`;
  const path = options.path ?? spec.path;

  return (req: IncomingMessage, res: ServerResponse): void => {
    const headers = { ...forwardableHeaders(req.headers), ...options.addHeaders?.(req) };
    headers.host = authority;
    const upstream = request({ host, port: spec.port, path, method: req.method, headers, agent });

    if (options.onDone) res.once('close', options.onDone);
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.on('response', (answer: IncomingMessage) => {
      const out = forwardableHeaders(answer.headers);
      res.writeHead(answer.statusCode ?? 502, out);
      answer.pipe(res);
      answer.on('error', () => res.destroy());
      answer.on('aborted', () => res.destroy());
    });
    upstream.on('error', async () => {
      // A crash shows up on the socket before the exit status arrives; wait a moment so the error says which it was.
      const exit = await Promise.race([serverExit, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 250))]);
      if (res.destroyed) return;
      if (exit) replyError(res, 'server_crashed', crashMessage(spec.runtime, exit));
      else replyError(res, 'sandbox_unavailable', `runtime "${spec.runtime}": its server closed the connection before answering`);
    });
    req.pipe(upstream);
  };
}
