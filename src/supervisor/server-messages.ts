import type { Readable } from 'node:stream';
import { asJsonRpcMessage, jsonDepthExceeds, MAX_SERVER_JSON_DEPTH, type JsonRpcId, type JsonRpcMessage } from '../mcp/jsonrpc.ts';

/**
 * The largest message berth reads whole from a server: a stdio line, an SSE event, a JSON answer. It is the bound
 * the edge reads a sandbox's answers with, and keeps one message (read, decoded, parsed, written again) well inside
 * a sandbox's memory, which the supervisor shares with the server.
 */
export const MAX_SERVER_MESSAGE_BYTES = 16 * 1024 * 1024;

/** What berth keeps of each end of a message too large to read: enough to find the id of the call it answers. */
const KEPT_EDGE_BYTES = 4096;

/** One message of a server, as berth takes it in. */
export type ServerMessage =
  | { message: JsonRpcMessage }
  /** Not JSON-RPC at all: a line a stdio server printed for its own reasons. */
  | { output: string }
  /** JSON-RPC berth will not relay; `id` and `request` say whom to tell, when that can be known. */
  | { refused: string; id?: JsonRpcId; request?: boolean };

/** A server's message as text: parsed, unless it nests deeper than berth relays (then only enough to say whose it was). */
export function parseServerMessage(text: string): ServerMessage {
  let parsed: unknown;
  try {
    // V8 parses JSON without recursion, so a deep text costs its size here, not the stack; relaying it would not.
    parsed = JSON.parse(text);
  } catch {
    return { output: text };
  }
  const message = asJsonRpcMessage(parsed);
  if (!message) return { output: text };
  if (!jsonDepthExceeds(text, MAX_SERVER_JSON_DEPTH)) return { message };
  const refused = `the server sent a message nested more than ${MAX_SERVER_JSON_DEPTH} levels deep, which berth does not relay`;
  const id = 'id' in message && message.id !== null && message.id !== undefined ? message.id : undefined;
  return id === undefined ? { refused } : { refused, id, request: 'method' in message };
}

/**
 * The id of the call a message too large to read answers, from what berth kept of its two ends. SDKs put `id` first
 * (`{"jsonrpc":"2.0","id":7,…`) or last (`…,"jsonrpc":"2.0","id":7}`); berth's ids for a server are numbers.
 */
export function idOfCutMessage(head: string, tail: string): number | undefined {
  const match = /^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(\d{1,15})\s*,/.exec(head) ?? /[,{]\s*"id"\s*:\s*(\d{1,15})\s*\}\s*$/.exec(tail);
  return match ? Number(match[1]) : undefined;
}

export interface ServerLineHandlers {
  line(text: string): void;
  /**
   * A line longer than `maxBytes`, or one that would take more than the budget has left: its first and last few KiB,
   * its whole length, and which it was.
   */
  overlong(head: string, tail: string, bytes: number, why: 'size' | 'budget'): void;
}

/**
 * Bytes of servers' unfinished lines that many readers share: where berth reads servers in its own process
 * (host.ts), their lines together may hold this much of berth's memory, and no more, however many servers write
 * large messages at once.
 */
export class ReadBudget {
  readonly bytes: number;
  #free: number;

  constructor(bytes: number) {
    this.bytes = bytes;
    this.#free = bytes;
  }

  take(bytes: number): boolean {
    if (bytes > this.#free) return false;
    this.#free -= bytes;
    return true;
  }

  give(bytes: number): void {
    this.#free = Math.min(this.bytes, this.#free + bytes);
  }
}

/** A line's first bytes come free of the budget: a small message costs no bookkeeping. */
const UNBUDGETED_BYTES = 64 * 1024;

/**
 * Splits what a stdio server writes into lines without trusting it: a line is held up to `maxBytes`; past that it is
 * given up (berth keeps its two ends only) and the rest of it is dropped as it comes, so a server that never writes a
 * newline costs a bounded amount of memory. With a `budget`, a line's bytes past its first 64 KiB are taken from it,
 * and a line the budget cannot hold is given up the same way.
 */
export function splitServerLines(stream: Readable, maxBytes: number, handlers: ServerLineHandlers, budget?: ReadBudget): void {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  /** Bytes of the line held that were taken from the budget. */
  let taken = 0;
  let cut: { head: Buffer; tail: Buffer; bytes: number; why: 'size' | 'budget' } | undefined;
  const giveBack = (): void => {
    budget?.give(taken);
    taken = 0;
  };
  const take = (part: Buffer): void => {
    if (part.length === 0) return;
    if (cut) {
      cut.bytes += part.length;
      cut.tail = lastBytes([cut.tail, part]);
      return;
    }
    const owed = budget ? Math.max(0, pendingBytes + part.length - UNBUDGETED_BYTES) - taken : 0;
    const fits = pendingBytes + part.length <= maxBytes;
    if (fits && (owed <= 0 || budget?.take(owed))) {
      taken += Math.max(0, owed);
      pending.push(part);
      pendingBytes += part.length;
      return;
    }
    const whole = Buffer.concat([...pending, part]);
    cut = { head: Buffer.from(whole.subarray(0, KEPT_EDGE_BYTES)), tail: lastBytes([whole]), bytes: whole.length, why: fits ? 'budget' : 'size' };
    pending = [];
    pendingBytes = 0;
    giveBack();
  };
  const end = (): void => {
    if (cut) {
      handlers.overlong(withoutCr(cut.head.toString('utf8')), withoutCr(cut.tail.toString('utf8')), cut.bytes, cut.why);
      cut = undefined;
      return;
    }
    const text = Buffer.concat(pending, pendingBytes).toString('utf8');
    pending = [];
    pendingBytes = 0;
    giveBack();
    handlers.line(withoutCr(text));
  };
  stream.on('data', (chunk: Buffer) => {
    let start = 0;
    for (let newline = chunk.indexOf(10); newline !== -1; newline = chunk.indexOf(10, start)) {
      take(chunk.subarray(start, newline));
      end();
      start = newline + 1;
    }
    take(chunk.subarray(start));
  });
  stream.on('end', () => {
    if (pendingBytes > 0 || cut) end();
  });
  // A stream that breaks mid-line gives back what its line took.
  stream.once('close', () => {
    pending = [];
    pendingBytes = 0;
    giveBack();
  });
}

/** The last KEPT_EDGE_BYTES of `parts`, copied, so the chunks it came from are not held. */
function lastBytes(parts: Buffer[]): Buffer {
  const last = parts[parts.length - 1];
  const joined = last && last.length >= KEPT_EDGE_BYTES ? last : Buffer.concat(parts);
  return Buffer.from(joined.subarray(Math.max(0, joined.length - KEPT_EDGE_BYTES)));
}

function withoutCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
