import { Transform, pipeline, type Readable } from 'node:stream';
import { SseParser } from '../../mcp/sse.ts';

/** An answer larger than this is passed on unread. */
const MAX_TAPPED_ANSWER = 4 * 1024 * 1024;

/**
 * A server's answer passed on unchanged, chunk by chunk, while its JSON-RPC `result` is read on the side and handed to
 * `onResult` once the answer is whole: what berth learns of a runtime version from the answers that pass through it.
 */
export function tapResult(body: Readable, contentType: string, onResult: (result: unknown) => void): Readable {
  const chunks: Buffer[] = [];
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (size <= MAX_TAPPED_ANSWER) {
        size += chunk.length;
        if (size <= MAX_TAPPED_ANSWER) chunks.push(chunk);
        else chunks.length = 0;
      }
      done(null, chunk);
    },
    flush: (done) => {
      if (size <= MAX_TAPPED_ANSWER) {
        const result = resultOf(Buffer.concat(chunks).toString('utf8'), contentType);
        if (result !== undefined) onResult(result);
      }
      done();
    },
  });
  pipeline(body, tap, () => {});
  return tap;
}

/** The `result` of the JSON-RPC response in a JSON or SSE answer. */
function resultOf(text: string, contentType: string): unknown {
  const payloads = contentType.includes('text/event-stream') ? sseData(text) : [text];
  for (const payload of payloads.reverse()) {
    try {
      const message = JSON.parse(payload) as { result?: unknown };
      if (message.result !== undefined) return message.result;
    } catch {
      // not JSON: not the response
    }
  }
  return undefined;
}

function sseData(text: string): string[] {
  try {
    return new SseParser().push(`${text}\n\n`).map((event) => event.data);
  } catch {
    return [];
  }
}
