import { pipeline, Readable, Transform } from 'node:stream';
import type { RequestStateSealer, StateBinding } from '../../mcp/request-state.ts';
import { SseParser, sseEvent } from '../../mcp/sse.ts';
import { StringDecoder } from 'node:string_decoder';

/** A JSON answer longer than this is streamed untouched: an `input_required` result is far smaller. */
const MAX_INSPECTED_JSON = 1024 * 1024;

export interface Sealing {
  sealer: RequestStateSealer;
  binding: StateBinding;
  ttlMs: number;
}

/**
 * Seals the `requestState` of an `input_required` result in an answer to tools/call, prompts/get or
 * resources/read, whether the answer is plain JSON or the last event of an SSE stream, and gives a result without
 * `resultType` the `complete` it lacks. Everything else passes through as it comes: SSE events are re-emitted one
 * by one, never held back.
 */
export function sealAnswer(body: Readable, contentType: string, sealing: Sealing): { body: Readable; rewritesLength: boolean } {
  if (contentType.includes('text/event-stream')) {
    // pipeline, so a client that leaves (the transform destroyed) also ends the sandbox's answer, and so the call.
    const sealer = sseSealer(sealing);
    pipeline(body, sealer, () => {});
    return { body: sealer, rewritesLength: true };
  }
  if (contentType.includes('application/json')) return { body: Readable.from(jsonSealer(body, sealing)), rewritesLength: true };
  return { body, rewritesLength: false };
}

/**
 * The message with its `input_required` requestState sealed, or a complete result missing `resultType` given it
 * (2026-07-28 requires it; some servers leave it out), or undefined when nothing changes.
 */
function sealMessage(text: string, sealing: Sealing): string | undefined {
  let message: { result?: Record<string, unknown> };
  try {
    message = JSON.parse(text) as typeof message;
  } catch {
    return undefined;
  }
  const result = message.result;
  if (!result) return undefined;
  if (result.resultType === undefined) return JSON.stringify({ ...message, result: { ...result, resultType: 'complete' } });
  if (result.resultType !== 'input_required') return undefined;
  const inner = typeof result.requestState === 'string' ? result.requestState : undefined;
  const requestState = sealing.sealer.seal(sealing.binding, inner, sealing.ttlMs);
  return JSON.stringify({ ...message, result: { ...result, requestState } });
}

async function* jsonSealer(body: Readable, sealing: Sealing): AsyncGenerator<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  let inspecting = true;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (!inspecting) {
      yield chunk;
      continue;
    }
    chunks.push(chunk);
    size += chunk.length;
    if (size > MAX_INSPECTED_JSON) {
      inspecting = false;
      yield Buffer.concat(chunks);
      chunks.length = 0;
    }
  }
  if (!inspecting) return;
  const whole = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  // Most answers are complete results that say so: pass their bytes on without parsing them.
  if (!whole.includes('input_required') && whole.includes('"resultType"')) {
    yield whole;
    return;
  }
  const text = whole.toString('utf8');
  yield Buffer.from(sealMessage(text, sealing) ?? text);
}

/**
 * Splits the stream at event boundaries (a blank line) and re-emits each block as it completes: byte for byte, but
 * for the one block that carries an `input_required` result, whose requestState is sealed.
 */
function sseSealer(sealing: Sealing): Transform {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      pending += decoder.write(chunk);
      let out = '';
      let boundary: RegExpExecArray | null;
      while ((boundary = /\r?\n\r?\n/.exec(pending)) !== null) {
        const end = boundary.index + boundary[0].length;
        out += sealBlock(pending.slice(0, end), sealing);
        pending = pending.slice(end);
      }
      done(null, out === '' ? undefined : out);
    },
    flush(done) {
      pending += decoder.end();
      done(null, pending === '' ? undefined : sealBlock(pending, sealing));
    },
  });
}

function sealBlock(block: string, sealing: Sealing): string {
  const mayChange = block.includes('input_required') || (block.includes('"result"') && !block.includes('"resultType"'));
  if (!mayChange) return block;
  const [event] = new SseParser().push(block.endsWith('\n\n') ? block : `${block}\n\n`);
  const sealed = event?.event === 'message' ? sealMessage(event.data, sealing) : undefined;
  return sealed === undefined ? block : sseEvent(sealed);
}
