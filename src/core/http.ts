import { BerthError, isBerthError, restErrorBody, toBerthError } from './errors.ts';

/** Web-standard helpers every HTTP handler of berth shares. */

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

/** The headers an error's answer carries whatever its wire shape: `Retry-After`, and `Allow` on a 405. */
export function errorHeaders(err: BerthError): Record<string, string> {
  const headers: Record<string, string> = {};
  if (err.retryAfter !== undefined) headers['retry-after'] = String(err.retryAfter);
  if (err.challenge !== undefined) headers['www-authenticate'] = err.challenge;
  const allow = err.details?.allow;
  if (err.status === 405 && Array.isArray(allow)) headers.allow = allow.join(', ');
  return headers;
}

/** A REST error in the one wire shape. */
export function errorResponse(error: unknown): Response {
  const err = toBerthError(error);
  return jsonResponse(err.status, restErrorBody(err), errorHeaders(err));
}

/**
 * Reads a whole request body, refusing (413) past `limit` bytes whether or not the client declared a length.
 */
export async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  if (!request.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read().catch((error: unknown) => {
      throw bodyCutShort(error);
    });
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * A body that failed while it was read: berth's own refusal as it is, anything else (the connection closed, reset or
 * timed out under it) as the client's doing, which it is, rather than an internal error to log as berth's.
 */
export function bodyCutShort(error: unknown): BerthError {
  if (isBerthError(error)) return error;
  return new BerthError('invalid_request', 'the request body ended before it was complete: the connection closed or stopped sending; send the whole body', {
    cause: error,
  });
}

export function tooLarge(limit: number): BerthError {
  return new BerthError('body_too_large', `request body is larger than the ${limit}-byte limit`, { details: { limit } });
}

/** A JSON object body, or a `validation_failed`/`parse_error` error that says what is wrong. */
export async function readJsonObject(request: Request, limit = 1024 * 1024): Promise<Record<string, unknown>> {
  const type = request.headers.get('content-type') ?? '';
  if (!type.includes('application/json')) {
    throw new BerthError('unsupported_media_type', 'send the body as JSON with Content-Type: application/json');
  }
  const text = new TextDecoder().decode(await readBody(request, limit));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new BerthError('parse_error', `request body is ${notJson(error)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BerthError('validation_failed', 'request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/**
 * Why a body is not JSON, without the parser's own words: those quote the body, which may hold a secret. Only the
 * place is kept.
 */
export function notJson(error: unknown): string {
  const position = /at position (\d+)/.exec(error instanceof Error ? error.message : '')?.[1];
  return position === undefined ? 'not valid JSON' : `not valid JSON (at character ${position})`;
}

/** Headers that belong to one connection (RFC 9110 §7.6.1), which no proxy passes on. */
export const HOP_BY_HOP_HEADERS = ['connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'proxy-connection'] as const;
