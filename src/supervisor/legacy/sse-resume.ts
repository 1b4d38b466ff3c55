import { SseParser, type SseEvent } from '../../mcp/sse.ts';

/** How long to wait before resuming a stream whose server named no `retry:`. */
const DEFAULT_RETRY_MS = 100;
/** The longest `retry:` honoured: a call waits on it, and the client is waiting on the call. */
const MAX_RETRY_MS = 5_000;
/** Resumed streams in a row that may bring nothing before berth gives the call up. */
const MAX_FRUITLESS_RESUMES = 10;

export const ENDED_EARLY = 'the server closed its answer stream before answering';

/**
 * Where one call's SSE answer stands across the streams that carry it (SEP-1699): a 2025-11-25 server may end a
 * POST's stream before the response, having sent events with ids, and expects the client to come back with `GET` +
 * `Last-Event-ID` for the rest, after the delay its `retry:` field named.
 */
export class ResumeCursor {
  /** The id of the last event the call's streams carried: where a resumed stream starts from. */
  lastEventId: string | undefined;
  /** The server's latest `retry:`, in milliseconds. */
  retryMs: number | undefined;
  #fruitless = 0;

  /**
   * After a stream ended without the response: how long to wait before resuming it and the event to resume from,
   * or why the call is over.
   */
  afterEnd(sawEvents: boolean): { delayMs: number; from: string } | { refused: string } {
    if (this.lastEventId === undefined) return { refused: ENDED_EARLY };
    this.#fruitless = sawEvents ? 0 : this.#fruitless + 1;
    if (this.#fruitless >= MAX_FRUITLESS_RESUMES) {
      return { refused: `${ENDED_EARLY}, and ${MAX_FRUITLESS_RESUMES} resumptions in a row brought nothing more` };
    }
    return { delayMs: Math.min(this.retryMs ?? DEFAULT_RETRY_MS, MAX_RETRY_MS), from: this.lastEventId };
  }
}

/** One SSE stream of a call (the POST's, then each resumed GET's): its events, with the call's cursor kept up to date. */
export class StreamReader {
  readonly #cursor: ResumeCursor;
  readonly #parser = new SseParser();
  /** How many events this stream has brought. */
  events = 0;

  constructor(cursor: ResumeCursor) {
    this.#cursor = cursor;
  }

  /** The events a chunk of the stream completes; throws if an event outgrows the parser's bound. */
  push(chunk: string): SseEvent[] {
    const events = this.#parser.push(chunk);
    // An empty `id:` clears the last event id, per the SSE standard: the stream then has nothing to resume from.
    for (const event of events) if (event.id !== undefined) this.#cursor.lastEventId = event.id === '' ? undefined : event.id;
    if (this.#parser.retryMs !== undefined) this.#cursor.retryMs = this.#parser.retryMs;
    this.events += events.length;
    return events;
  }
}
