import { Readable } from 'node:stream';
import { bodyCutShort, readBody, tooLarge } from '../core/http.ts';
import type { Inbound } from '../core/inbound.ts';
import { readUpTo } from '../core/read-up-to.ts';

/**
 * Request bodies read from the Node stream they arrive on when there is one (a request from node:http that no
 * handler turned into a web Request and read), and from the web stream otherwise: the hot path skips the web-stream
 * conversion, and every handler may still read a body either way.
 */

/** The whole request body, bounded by `limit` (413 past it). */
export async function readRequestBody(inbound: Inbound, limit: number): Promise<Uint8Array> {
  const source = inbound.nodeBody();
  if (!source) return readBody(inbound.request, limit);
  const declared = inbound.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  // Past the limit the rest is the Node adapter's to read and throw away once the answer is out.
  const read = await readUpTo(source, limit);
  if (Buffer.isBuffer(read)) return read;
  throw read instanceof Error ? bodyCutShort(read) : tooLarge(limit);
}

/**
 * The request body as it arrives, to stream on without holding it whole. A declared length past `limit` is refused
 * at once (413); a body that grows past it fails with that error.
 */
export function streamRequestBody(inbound: Inbound, limit: number): Readable {
  const declared = inbound.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  const node = inbound.nodeBody();
  const source: AsyncIterable<Uint8Array> | null = node ? node.iterator({ destroyOnReturn: false }) : inbound.request.body;
  return Readable.from(limited(source, limit), { objectMode: false });
}

async function* limited(source: AsyncIterable<Uint8Array> | null, limit: number): AsyncGenerator<Uint8Array> {
  if (!source) return;
  let size = 0;
  try {
    for await (const chunk of source) {
      size += chunk.byteLength;
      if (size > limit) throw tooLarge(limit);
      yield chunk;
    }
  } catch (error) {
    throw bodyCutShort(error);
  }
}
