/** Server-sent events as MCP's Streamable HTTP uses them: one JSON-RPC message per `message` event. */

export const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
} as const;

export function sseEvent(json: string): string {
  return `event: message\ndata: ${json}\n\n`;
}

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** What one event may hold unless the parser is told otherwise. */
const DEFAULT_MAX_EVENT_CHARS = 16 * 1024 * 1024;

/**
 * Incremental SSE parser: feed it text as it arrives, it returns the events completed so far. Comments are
 * dropped and `retry:` is kept as `retryMs`; multi-line `data:` fields are joined with newlines, per the SSE standard. Each byte is
 * scanned once however the text is split, and an event larger than `maxEventChars` throws instead of growing
 * without end.
 */
export class SseParser {
  readonly #maxEventChars: number;
  #buffer = '';
  /** How much of the buffer's start is known to hold no line end. */
  #scanned = 0;
  #event = '';
  #data: string[] = [];
  #dataChars = 0;
  #id: string | undefined;
  #retryMs: number | undefined;

  constructor(maxEventChars = DEFAULT_MAX_EVENT_CHARS) {
    this.#maxEventChars = maxEventChars;
  }

  /** The reconnection delay the stream's last valid `retry:` field named, in milliseconds. */
  get retryMs(): number | undefined {
    return this.#retryMs;
  }

  push(chunk: string): SseEvent[] {
    const buffer = this.#buffer + chunk;
    const events: SseEvent[] = [];
    let start = 0;
    let from = this.#scanned;
    for (;;) {
      const end = lineEnd(buffer, from);
      // A CR that ends the text so far may be the first half of a CRLF.
      if (end === -1 || (buffer.charCodeAt(end) === CR && end === buffer.length - 1)) break;
      const line = buffer.slice(start, end);
      start = end + (buffer.charCodeAt(end) === CR && buffer.charCodeAt(end + 1) === LF ? 2 : 1);
      from = start;
      this.#line(line, events);
    }
    this.#buffer = buffer.slice(start);
    this.#scanned = this.#buffer.endsWith('\r') ? this.#buffer.length - 1 : this.#buffer.length;
    if (this.#buffer.length + this.#dataChars > this.#maxEventChars) {
      throw new Error(`an SSE event is larger than ${this.#maxEventChars} characters`);
    }
    return events;
  }

  #line(line: string, events: SseEvent[]): void {
    if (line === '') {
      if (this.#data.length > 0) {
        const event: SseEvent = { event: this.#event || 'message', data: this.#data.join('\n') };
        if (this.#id !== undefined) event.id = this.#id;
        events.push(event);
      }
      this.#event = '';
      this.#data = [];
      this.#dataChars = 0;
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      this.#data.push(value);
      this.#dataChars += value.length + 1;
    } else if (field === 'event') this.#event = value;
    else if (field === 'id') this.#id = value;
    else if (field === 'retry' && /^\d{1,9}$/.test(value)) this.#retryMs = Number(value);
  }
}

const CR = 13;
const LF = 10;

/** Index of the first CR or LF at or after `from`, or -1. */
function lineEnd(text: string, from: number): number {
  const lf = text.indexOf('\n', from);
  const cr = text.indexOf('\r', from);
  if (cr === -1) return lf;
  if (lf === -1) return cr;
  return Math.min(cr, lf);
}
