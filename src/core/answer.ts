import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { lazyWebStream } from './web-stream.ts';

/** An answer's headers as node:http takes them. */
export type AnswerHeaders = Record<string, string | string[]>;

/**
 * An answer whose body is already a Node stream or a buffer, as the sandbox's answers are. The Node adapter writes
 * it to the socket as it is (a buffer with its head in one write); a web-standard caller gets it as a `Response`
 * (`toResponse`). Making it costs nothing of the web-stream machinery a `Response` would.
 */
export class NodeAnswer {
  readonly status: number;
  readonly headers: AnswerHeaders;
  readonly body: Buffer | Readable | null;

  constructor(status: number, headers: AnswerHeaders, body: Buffer | Readable | null) {
    this.status = status;
    this.headers = headers;
    this.body = body;
  }
}

/**
 * An upgrade agreed to (101): the Node adapter writes nothing itself, and hands the client's connection, with the
 * bytes that followed its request, to `take`, which writes the 101 and speaks the new protocol from then on. An
 * answer that never reaches a connection (the client left first) is `abandon`ed, which frees what it holds.
 */
export class UpgradeAnswer extends NodeAnswer {
  readonly take: (socket: Socket, head: Buffer) => void;
  readonly abandon: () => void;

  constructor(headers: AnswerHeaders, take: (socket: Socket, head: Buffer) => void, abandon: () => void) {
    super(101, headers, null);
    this.take = take;
    this.abandon = abandon;
  }
}

/** What a handler answers: a web-standard Response, or a NodeAnswer. */
export type Answer = Response | NodeAnswer;

/** `answer` as a web-standard Response. */
export function toResponse(answer: Answer): Response {
  if (answer instanceof Response) return answer;
  const headers = new Headers();
  for (const [name, value] of Object.entries(answer.headers)) {
    if (Array.isArray(value)) for (const one of value) headers.append(name, one);
    else headers.set(name, value);
  }
  const { body } = answer;
  if (body === null) return new Response(null, { status: answer.status, headers });
  return new Response(Buffer.isBuffer(body) ? new Uint8Array(body.buffer, body.byteOffset, body.byteLength) : lazyWebStream(body), {
    status: answer.status,
    headers,
  });
}
