import type { JsonRpcMessage } from '../../mcp/jsonrpc.ts';
import { sseEvent } from '../../mcp/sse.ts';

/** Bytes an SSE answer may hold queued for a slow client before its writers are made to wait. */
const HIGH_WATER_BYTES = 256 * 1024;
const KEEP_ALIVE_MS = 20_000;

/**
 * An SSE stream berth writes itself (the legacy facade's answers and GET streams). `send` resolves once the
 * client has taken enough of what is queued, so a sandbox that floods notifications is slowed to the client's pace
 * instead of filling berth's memory. A comment goes out when the stream is quiet, so proxies keep it open.
 * `onEnd` runs once, whether berth closes the stream or the client goes away.
 */
export class SseOut {
  readonly stream: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #closed = false;
  #waiters: Array<() => void> = [];
  readonly #encoder = new TextEncoder();
  readonly #onEnd: () => void;
  readonly #keepAlive: NodeJS.Timeout;

  constructor(onEnd: () => void = () => {}) {
    this.#onEnd = onEnd;
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        pull: () => this.#wake(),
        cancel: () => this.#end(),
      },
      { highWaterMark: HIGH_WATER_BYTES, size: (chunk) => chunk.byteLength },
    );
    this.#keepAlive = setInterval(() => this.#write(':\n\n'), KEEP_ALIVE_MS);
    this.#keepAlive.unref();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Queues the message; resolves when there is room for more (at once when the stream has ended). */
  send(message: JsonRpcMessage): Promise<void> {
    this.#write(sseEvent(JSON.stringify(message)));
    if (this.#closed || (this.#controller.desiredSize ?? 1) > 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  close(): void {
    if (this.#closed) return;
    this.#controller.close();
    this.#end();
  }

  #write(text: string): void {
    if (!this.#closed) this.#controller.enqueue(this.#encoder.encode(text));
  }

  #end(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepAlive);
    this.#wake();
    this.#onEnd();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
