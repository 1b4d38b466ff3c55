import { Readable } from 'node:stream';
import { bodyCutShort, readBody, tooLarge } from '../core/http.ts';

/**
 * Request and answer bodies that are Node streams underneath. Handlers still see web-standard `Request` and
 * `Response` objects whose bodies work as usual; the Node adapter and the proxy, which know better, move the bytes
 * between Node streams directly and skip two web-stream conversions per request on the hot path.
 */
const requestSources = new WeakMap<Request, Readable>();
const responseSources = new WeakMap<Response, Readable>();

/**
 * A web stream over `source` that touches it only when someone reads, so a Node consumer may take `source` instead.
 * Cancelling it destroys `source`, unless `keepOnCancel` (a request body, whose rest the Node adapter reads and
 * throws away once the answer is out: destroying it would reset the connection under the answer).
 */
export function lazyWebStream(source: Readable, keepOnCancel = false): ReadableStream<Uint8Array> {
  let wired = false;
  // Once the web stream is closed, errored or cancelled, nothing of `source` may reach its controller again: a
  // body the handler gave up on is still read to its end (and thrown away) by the Node adapter, and an `end` then
  // would close a closed controller, which throws outside any handler and takes the process down.
  let settled = false;
  let detach = (): void => {};
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (wired) {
          source.resume();
          return;
        }
        wired = true;
        const onData = (chunk: Buffer): void => {
          controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          if ((controller.desiredSize ?? 0) <= 0) source.pause();
        };
        const onEnd = (): void => {
          settled = true;
          detach();
          controller.close();
        };
        const onError = (error: Error): void => {
          settled = true;
          detach();
          controller.error(error);
        };
        detach = () => {
          source.off('data', onData);
          source.off('end', onEnd);
          source.off('error', onError);
        };
        if (settled) return;
        source.on('data', onData);
        source.once('end', onEnd);
        source.once('error', onError);
      },
      cancel() {
        settled = true;
        detach();
        if (!keepOnCancel) source.destroy();
        else source.pause();
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

const responseBuffers = new WeakMap<Response, Buffer>();

/** An answer whose body is at hand whole: the Node adapter sends it with its head in one write. */
export function wholeResponse(body: Buffer, init: ResponseInit): Response {
  // A stream that hands over the buffer when read: a Response made from the buffer itself copies it, at twice the cost.
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        controller.enqueue(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
        controller.close();
      },
    },
    { highWaterMark: 0 },
  );
  const response = new Response(stream, init);
  responseBuffers.set(response, body);
  return response;
}

export function nodeResponseBuffer(response: Response): Buffer | undefined {
  return response.bodyUsed ? undefined : responseBuffers.get(response);
}

/** The whole request body, bounded by `limit` (413 past it), read from the Node stream when there is one. */
export async function readRequestBody(request: Request, limit: number): Promise<Uint8Array> {
  const source = requestSources.get(request);
  if (!source || request.bodyUsed) return readBody(request, limit);
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    // An early end (too large) leaves the stream to the Node adapter, as above.
    for await (const chunk of source.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw tooLarge(limit);
      chunks.push(chunk);
    }
  } catch (error) {
    throw bodyCutShort(error);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
}

/**
 * The request body as it arrives, to stream on without holding it whole, read from the Node stream when there is
 * one. A declared length past `limit` is refused at once (413); a body that grows past it fails with that error.
 */
export function streamRequestBody(request: Request, limit: number): Readable {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  const node = requestSources.get(request);
  const source: AsyncIterable<Uint8Array> | null = node && !request.bodyUsed ? node.iterator({ destroyOnReturn: false }) : request.body;
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
