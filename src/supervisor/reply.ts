import type { Http1ServerResponse } from '../core/http1-server.ts';
import { BerthError, restErrorBody, type ErrorCode } from '../core/errors.ts';

/** Marks a channel answer as berth's own error rather than the server's; the edge renders it for the client. */
export const BERTH_ERROR_HEADER = 'x-berth-error';

export function replyError(res: Http1ServerResponse, code: ErrorCode, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const error = new BerthError(code, message);
  const body = JSON.stringify(restErrorBody(error));
  res.writeHead(error.status, { 'content-type': 'application/json', [BERTH_ERROR_HEADER]: code, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1), plus berth's own markers. Content-Length
 * passes: bodies go through the supervisor untouched, so a request or answer keeps its length and leaves whole.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);

export function forwardableHeaders(headers: NodeJS.Dict<string | string[]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || name.startsWith('x-berth-')) continue;
    out[name] = value;
  }
  return out;
}
