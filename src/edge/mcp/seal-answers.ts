import { pipeline, Transform, type Readable } from 'node:stream';
import type { RequestStateSealer, StateBinding } from '../../mcp/request-state.ts';
import { SseParser, sseEvent } from '../../mcp/sse.ts';
import { StringDecoder } from 'node:string_decoder';

/**
 * A JSON answer (or SSE event) longer than this is streamed untouched: an `input_required` result is far smaller. A
 * shorter JSON answer is read whole, sealed (sealJson) and sent with its length in one write.
 */
export const MAX_INSPECTED_JSON = 1024 * 1024;

export interface Sealing {
  sealer: RequestStateSealer;
  /** Made only when an answer needs sealing: its digest of the arguments is not free. */
  binding: () => StateBinding;
  ttlMs: number;
  /** Hears each input_required answer sealed: a round in which the server waits for its client. */
  issued?: () => void;
}

/**
 * Seals the `requestState` of an `input_required` result in an SSE answer to tools/call, prompts/get or
 * resources/read (a JSON answer is sealed whole, by sealJson), and gives a result without `resultType` the
 * `complete` it lacks. Every other event passes through as it comes, re-emitted one by one, never held back.
 */
export function sealEvents(body: Readable, sealing: Sealing): Readable {
  // pipeline, so a client that leaves (the transform destroyed) also ends the sandbox's answer, and so the call.
  const sealer = sseSealer(sealing);
  pipeline(body, sealer, () => {});
  return sealer;
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
  const requestState = sealing.sealer.seal(sealing.binding(), inner, sealing.ttlMs);
  sealing.issued?.();
  return JSON.stringify({ ...message, result: { ...result, requestState } });
}

/** A whole JSON answer, sealed; the same buffer when nothing changes. */
export function sealJson(whole: Buffer, sealing: Sealing): Buffer {
  // Most answers are complete results that say so: pass their bytes on without parsing them.
  if (!whole.includes('input_required') && whole.includes('"resultType"')) return whole;
  const sealed = sealMessage(whole.toString('utf8'), sealing);
  return sealed === undefined ? whole : Buffer.from(sealed);
}

/** An event boundary: a blank line, whatever the line endings. */
const BOUNDARY = /\r?\n\r?\n/g;
/** Longest a boundary can be: a block's tail kept back in case a boundary straddles two chunks. */
const BOUNDARY_CHARS = 4;

/**
 * Splits the stream at event boundaries (a blank line) and re-emits each block as it completes: byte for byte, but
 * for the one block that carries an `input_required` result, whose requestState is sealed. Text is scanned once
 * however it is split. A block that grows past MAX_INSPECTED_JSON is no `input_required` result: it streams through
 * untouched up to its end, so one endless event costs no more memory than that.
 */
function sseSealer(sealing: Sealing): Transform {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  /** How far into `pending` no boundary starts. */
  let scanned = 0;
  /** Inside a block too large to inspect. */
  let passing = false;
  const drain = (final: boolean): string => {
    let out = '';
    BOUNDARY.lastIndex = Math.max(0, scanned - BOUNDARY_CHARS);
    let start = 0;
    let match: RegExpExecArray | null;
    while ((match = BOUNDARY.exec(pending)) !== null) {
      const end = match.index + match[0].length;
      const block = pending.slice(start, end);
      out += passing ? block : sealBlock(block, sealing);
      passing = false;
      start = end;
    }
    pending = pending.slice(start);
    scanned = pending.length;
    if (final) {
      if (pending !== '') out += passing ? pending : sealBlock(pending, sealing);
      pending = '';
    } else if (pending.length > MAX_INSPECTED_JSON) {
      out += pending.slice(0, -BOUNDARY_CHARS);
      pending = pending.slice(-BOUNDARY_CHARS);
      scanned = 0;
      passing = true;
    }
    return out;
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      pending += decoder.write(chunk);
      const out = drain(false);
      done(null, out === '' ? undefined : out);
    },
    flush(done) {
      pending += decoder.end();
      const out = drain(true);
      done(null, out === '' ? undefined : out);
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
