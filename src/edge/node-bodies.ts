import type { Readable } from 'node:stream';
import { readBody, tooLarge } from '../core/http.ts';

/**
 * Request and answer bodies that are Node streams underneath. Handlers still see web-standard `Request` and
 * `Response` objects whose bodies work as usual; the Node adapter and the proxy, which know better, move the bytes
 * between Node streams directly and skip two web-stream conversions per request on the hot path.
 */
const requestSources = new WeakMap<Request, Readable>();
const responseSources = new WeakMap<Response, Readable>();

/** A web stream over `source` that touches it only when someone reads, so a Node consumer may take `source` instead. */
export function lazyWebStream(source: Readable): ReadableStream<Uint8Array> {
  let wired = false;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (wired) {
          source.resume();
          return;
        }
        wired = true;
        source.on('data', (chunk: Buffer) => {
          controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          if ((controller.desiredSize ?? 0) <= 0) source.pause();
        });
        source.once('end', () => controller.close());
        source.once('error', (error) => controller.error(error));
      },
      cancel() {
        source.destroy();
      },
    },
    { highWaterMark: 0 },
  );
}

export function withNodeRequestBody(request: Request, source: Readable): Request {
  requestSources.set(request, source);
  return request;
}

/** An answer streaming from a Node stream. */
export function streamingResponse(source: Readable, init: ResponseInit): Response {
  const response = new Response(lazyWebStream(source), init);
  responseSources.set(response, source);
  return response;
}

export function nodeResponseBody(response: Response): Readable | undefined {
  return response.bodyUsed ? undefined : responseSources.get(response);
}

/** The whole request body, bounded by `limit` (413 past it), read from the Node stream when there is one. */
export async function readRequestBody(request: Request, limit: number): Promise<Uint8Array> {
  const source = requestSources.get(request);
  if (!source || request.bodyUsed) return readBody(request, limit);
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
}
