/**
 * Sends a fuzzed request and reads what came back. Requests whose framing is honest go through node:http on
 * kept-alive connections, as real clients' do; the rest (lying lengths, headers node:http will not write, raw TCP)
 * are written byte for byte on a connection of their own. Answers are read to a bound: an event stream that stays
 * open (a listen stream, a legacy GET) is cut after a while, and nothing waits forever.
 */
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { headersSendable } from './mutate.ts';
import { bodyOf, header, type Answer, type Draft } from './request.ts';

/** The most of an answer's body kept for judging and reporting. */
const KEEP_BYTES = 64 * 1024;
/** A raw connection whose answers have paused this long is done: what berth keeps alive, the fuzzer closes. */
const RAW_QUIET_MS = 200;

export interface SendOptions {
  /** How long an open event stream is read before the fuzzer cuts it. */
  streamMs: number;
  /** How long any answer may take before the fuzzer gives up on it. */
  timeoutMs: number;
  /** Each complete `data:` event of an event-stream answer, as it arrives. */
  onEvent?: (data: string) => void;
}

/** What each kept-alive connection carried last, to tell what left one broken. */
const lastOn = new WeakMap<object, string>();

export class Sender {
  readonly #host: string;
  readonly #port: number;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 64 });

  constructor(baseUrl: string) {
    const url = new URL(baseUrl);
    this.#host = url.hostname;
    this.#port = Number(url.port);
  }

  close(): void {
    this.#agent.destroy();
  }

  send(draft: Draft, options: SendOptions): Promise<Answer> {
    if (draft.bytes !== undefined) return this.#raw(draft.bytes, options, draft.closeAfterMs);
    if (draft.raw || !headersSendable(draft.headers) || !/^\/[\u0021-\u00ff]*$/.test(draft.target)) return this.#raw(rawBytes(draft), options);
    return this.#http(draft, options);
  }

  #http(draft: Draft, options: SendOptions): Promise<Answer> {
    const started = Date.now();
    const body = bodyOf(draft);
    return new Promise((resolve) => {
      let settled = false;
      let kept = '';
      let status = 0;
      let headers: Record<string, string> = {};
      const finish = (ending: Answer['ending'], error?: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(streamTimer);
        resolve({
          status,
          headers,
          body: kept,
          all: status === 0 ? [] : [{ status, body: kept }],
          ending,
          ...(error === undefined ? {} : { error }),
          ms: Date.now() - started,
        });
      };
      // Given its headers as a list, node:http frames no body itself: a GET's or DELETE's would follow its head
      // unframed, and read as a second, malformed request. The body is framed here, as the draft asks.
      const framing: Array<[string, string]> = [];
      if (body !== undefined && header(draft, 'content-length') === undefined && header(draft, 'transfer-encoding') === undefined) {
        framing.push(draft.chunked ? ['Transfer-Encoding', 'chunked'] : ['Content-Length', String(body.length)]);
      }
      const flat: string[] = [...draft.headers, ...framing].flatMap(([name, value]) => [name, value]);
      let streamTimer: NodeJS.Timeout | undefined;
      const request = httpRequest({ host: this.#host, port: this.#port, method: draft.method, path: draft.target, headers: flat, agent: this.#agent });
      const timer = setTimeout(() => {
        request.destroy();
        finish('timeout');
      }, options.timeoutMs);
      let previous: string | undefined;
      request.on('socket', (socket) => {
        previous = lastOn.get(socket);
        lastOn.set(socket, draft.story.join(' | ').slice(0, 300));
      });
      request.on('error', (error: NodeJS.ErrnoException) => {
        const what = error.code ?? error.message;
        finish(
          status === 0 ? 'error' : 'complete',
          request.reusedSocket ? `${what} on a kept-alive connection whose last request was: ${previous ?? '?'}` : what,
        );
      });
      request.on('response', (response) => {
        status = response.statusCode ?? 0;
        headers = Object.fromEntries(Object.entries(response.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : (value ?? '')]));
        const stream = (headers['content-type'] ?? '').includes('text/event-stream');
        if (stream) {
          streamTimer = setTimeout(() => {
            response.destroy();
            finish('cut');
          }, options.streamMs);
        }
        let pending = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          if (kept.length < KEEP_BYTES) kept += chunk.slice(0, KEEP_BYTES - kept.length);
          if (!stream || !options.onEvent) return;
          pending += chunk;
          for (let end = pending.indexOf('\n\n'); end !== -1; end = pending.indexOf('\n\n')) {
            const data = pending
              .slice(0, end)
              .split('\n')
              .filter((line) => line.startsWith('data:'))
              .map((line) => line.slice(5).trimStart())
              .join('\n');
            pending = pending.slice(end + 2);
            if (data !== '') options.onEvent(data);
          }
        });
        response.on('end', () => finish('complete'));
        response.on('error', (error: NodeJS.ErrnoException) => finish('error', error.code ?? error.message));
        response.on('close', () => finish(response.complete ? 'complete' : 'error', response.complete ? undefined : 'the answer was cut off'));
      });
      if (draft.chunked && body !== undefined) {
        request.write(body);
        request.end();
      } else {
        request.end(body);
      }
    });
  }

  /** Writes `bytes` on a connection of its own and reads until berth closes it (or the fuzzer does). */
  #raw(bytes: Buffer, options: SendOptions, closeAfterMs?: number): Promise<Answer> {
    const started = Date.now();
    return new Promise((resolve) => {
      const socket = connect(this.#port, this.#host);
      const chunks: Buffer[] = [];
      let size = 0;
      let ending: Answer['ending'] = 'complete';
      let failure: string | undefined;
      socket.on('error', (error: NodeJS.ErrnoException) => {
        ending = 'error';
        failure = error.code ?? error.message;
      });
      socket.on('data', (chunk: Buffer) => {
        if (size < KEEP_BYTES) chunks.push(chunk.subarray(0, KEEP_BYTES - size));
        size += chunk.length;
      });
      const timer = setTimeout(() => {
        ending = 'timeout';
        socket.destroy();
      }, options.timeoutMs);
      // A connection berth keeps alive stays open once answered, and an event stream stays open while it lasts:
      // once answers have begun, the connection is closed after a pause in them (or, for a stream, after a while).
      let cutTimer: NodeJS.Timeout | undefined;
      let quietTimer: NodeJS.Timeout | undefined;
      socket.on('data', () => {
        clearTimeout(quietTimer);
        quietTimer = setTimeout(() => socket.destroy(), RAW_QUIET_MS);
        if (cutTimer === undefined && Buffer.concat(chunks).toString('latin1').includes('text/event-stream')) {
          clearTimeout(quietTimer);
          cutTimer = setTimeout(() => {
            ending = 'cut';
            socket.destroy();
          }, options.streamMs);
        }
      });
      socket.on('close', () => {
        clearTimeout(timer);
        clearTimeout(cutTimer);
        clearTimeout(quietTimer);
        const text = Buffer.concat(chunks).toString('latin1');
        const all = statusLines(text);
        const first = all[0];
        resolve({
          status: first?.status ?? 0,
          headers: first ? headersOf(text) : {},
          body: first?.body ?? '',
          all,
          ending,
          ...(failure === undefined ? {} : { error: failure }),
          ms: Date.now() - started,
        });
      });
      socket.write(bytes);
      if (closeAfterMs !== undefined) setTimeout(() => socket.destroy(), closeAfterMs);
    });
  }
}

/**
 * The draft as HTTP/1.1 text: its headers as they are (lies and all; Host only if the draft has one, as on the
 * node:http path, which given a list of headers adds none), then the body; the connection closes after.
 */
function rawBytes(draft: Draft): Buffer {
  const body = bodyOf(draft) ?? Buffer.alloc(0);
  const lines = [`${draft.method} ${draft.target} HTTP/1.1`];
  for (const [name, value] of draft.headers) lines.push(`${name}: ${value}`);
  if (header(draft, 'content-length') === undefined && header(draft, 'transfer-encoding') === undefined) lines.push(`Content-Length: ${body.length}`);
  lines.push('Connection: close', '', '');
  return Buffer.concat([Buffer.from(lines.join('\r\n'), 'utf8'), body]);
}

/** Every answer on a raw connection: its status and the start of its body. */
function statusLines(text: string): Answer['all'] {
  const found: Answer['all'] = [];
  const pattern = /HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/g;
  const starts: Array<{ status: number; at: number }> = [];
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) starts.push({ status: Number(match[1]), at: match.index });
  starts.forEach(({ status, at }, index) => {
    const end = starts[index + 1]?.at ?? text.length;
    const headEnd = text.indexOf('\r\n\r\n', at);
    found.push({ status, body: headEnd === -1 || headEnd > end ? '' : text.slice(headEnd + 4, Math.min(end, headEnd + 4 + 4096)) });
  });
  return found;
}

function headersOf(text: string): Record<string, string> {
  const headEnd = text.indexOf('\r\n\r\n');
  const out: Record<string, string> = {};
  for (const line of text
    .slice(0, headEnd === -1 ? text.length : headEnd)
    .split('\r\n')
    .slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) out[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return out;
}
