import { randomBytes } from 'node:crypto';
import { META_CLIENT_CAPABILITIES, META_LOG_LEVEL } from '../../mcp/classify.ts';
import { type InitializeResult, missingCapability, toModernError, toModernResult } from '../../mcp/legacy.ts';
import type { JsonRpcId, JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../../mcp/jsonrpc.ts';
import type { ResponseWriter } from '../response-writer.ts';
import type { BridgeSink, LegacyPeer } from './peer.ts';

/** How long a round waits for more questions before it asks the client (parallel questions share a round). */
const GATHER_MS = 15;

interface Question {
  serverId: JsonRpcId;
  method: string;
  params: Record<string, unknown> | undefined;
}

export interface CallOwner {
  peer: LegacyPeer;
  runtime: string;
  init: InitializeResult;
  inputTimeoutMs: number;
  /** The call now waits on its client, or no longer does. */
  changed(): void;
  /** The call ended (answered, failed, cancelled, abandoned); forget it. */
  ended(call: BridgedCall): void;
}

/**
 * One `tools/call`, `prompts/get` or `resources/read` of a modern client, running on a legacy server across as many
 * HTTP rounds as its questions need. While the server works, the current round's answer is open (progress and logs
 * stream on it). When the server asks the client something (elicitation, sampling, roots), the question is parked
 * with the server still waiting, and the round ends with `input_required`; the client's retry carries the answers,
 * which go to the parked questions, and opens the next round. A client that never retries leaves the call parked
 * for `inputTimeoutMs` at most; then the questions are declined and the call is cancelled.
 */
export class BridgedCall implements BridgeSink {
  /** The continuation id: berth's inner requestState for this call. */
  readonly id = `c_${randomBytes(12).toString('base64url')}`;
  readonly method: string;
  readonly startedAt = Date.now();
  readonly #owner: CallOwner;
  #serverRequestId = 0;
  #writer: ResponseWriter | undefined;
  #clientId: JsonRpcId = 0;
  #capabilities: Record<string, unknown> = {};
  #logLevel: string | undefined;
  /** Keys the client was asked and has not answered yet → the server requests waiting on them. */
  readonly #asked = new Map<string, Question>();
  /** Questions gathered for the round about to end. */
  readonly #gathering = new Map<string, Question>();
  #nextKey = 1;
  #gatherTimer: NodeJS.Timeout | undefined;
  #inputTimer: NodeJS.Timeout | undefined;
  /** The final answer, when it came while no round was open (the server stopped waiting on its own). */
  #held: JsonRpcResponse | undefined;
  #over = false;

  constructor(owner: CallOwner, message: JsonRpcRequest, writer: ResponseWriter) {
    this.#owner = owner;
    this.method = message.method;
    this.#openRound(message, writer);
  }

  /** Sends the call to the server under `request` (the owner's translation of the first round's request). */
  start(request: JsonRpcRequest): void {
    this.#serverRequestId = this.#owner.peer.request(request, this);
  }

  /** True while the server works on the call and a round is open to hear about it. */
  get running(): boolean {
    return !this.#over && this.#writer !== undefined && !this.#writer.done;
  }

  /** True while the client owes answers: the session is not idle. */
  get waiting(): boolean {
    return !this.#over && this.#asked.size > 0;
  }

  get logLevel(): string | undefined {
    return this.#logLevel;
  }

  notify(message: JsonRpcNotification): void {
    this.#writer?.notify(message);
  }

  /** The client's retry: the answers it brings go to the parked questions, and it becomes the open round. */
  resume(message: JsonRpcRequest, writer: ResponseWriter): void {
    this.#clearInputTimer();
    this.#openRound(message, writer);
    if (this.#held) {
      this.#finishWith(this.#held);
      return;
    }
    const answers = (message.params?.inputResponses ?? {}) as Record<string, unknown>;
    for (const [key, question] of this.#asked) {
      if (!(key in answers)) continue;
      this.#asked.delete(key);
      this.#owner.peer.respond({ jsonrpc: '2.0', id: question.serverId, result: answers[key] as Record<string, unknown> });
    }
    // Unknown keys are ignored; questions still unanswered are asked again.
    if (this.#asked.size > 0) this.#endRound(new Map(this.#asked));
    else this.#owner.changed();
  }

  // BridgeSink: what the server sends for this call.

  onNotification(message: JsonRpcNotification): void {
    this.#writer?.notify(message);
  }

  onServerRequest(request: JsonRpcRequest): void {
    this.ask(request, true);
  }

  onResponse(message: JsonRpcResponse): void {
    const translated: JsonRpcResponse = message.error
      ? { jsonrpc: '2.0', id: message.id, error: toModernError(message.error) }
      : { jsonrpc: '2.0', id: message.id, result: toModernResult(this.method, message.result ?? {}, this.#owner.init.serverInfo) };
    if (!this.running) {
      this.#held = translated;
      return;
    }
    this.#finishWith(translated);
  }

  onFailure(why: string, code: 'server_crashed' | 'sandbox_unavailable' = 'sandbox_unavailable'): void {
    if (this.#over) return;
    this.#writer?.fail(code, code === 'server_crashed' ? why : `runtime "${this.#owner.runtime}": ${why}`);
    this.#end();
  }

  /**
   * A question from the server for this call. `attributed` says the transport tied it to this call; a question the
   * bridge only guessed belongs here (stdio) does not fail the call when this client cannot answer it — it may be
   * the server's own business, such as asking for roots at the start of the session.
   */
  ask(request: JsonRpcRequest, attributed: boolean): void {
    const params = request.params === undefined ? undefined : withoutElicitationId(request.params);
    const missing = missingCapability(request.method, params, this.#capabilities);
    if (missing && !attributed) {
      this.#owner.peer.respond(
        request.method === 'roots/list'
          ? { jsonrpc: '2.0', id: request.id, result: { roots: [] } }
          : { jsonrpc: '2.0', id: request.id, error: { code: -32601, message: `the client cannot answer ${request.method}` } },
      );
      return;
    }
    if (missing) {
      this.#owner.peer.respond({ jsonrpc: '2.0', id: request.id, error: { code: -32601, message: `the client cannot answer ${request.method}` } });
      this.#writer?.finish({
        jsonrpc: '2.0',
        id: this.#clientId,
        error: { code: -32021, message: `The server asked for ${request.method}, which this request's clientCapabilities do not declare`, data: { requiredCapabilities: missing } },
      });
      this.#cancel('the client lacks a capability the server needs');
      return;
    }
    this.#gathering.set(`berth-${this.#nextKey++}`, { serverId: request.id, method: request.method, params });
    if (!this.#gatherTimer) this.#gatherTimer = setTimeout(() => this.#askGathered(), GATHER_MS);
  }

  /** The client went away mid-round, or the session ends: stop the server's work on this call. */
  abandon(reason: string): void {
    this.#cancel(reason);
  }

  #askGathered(): void {
    this.#gatherTimer = undefined;
    const questions = new Map(this.#gathering);
    this.#gathering.clear();
    for (const [key, question] of questions) this.#asked.set(key, question);
    if (this.running) this.#endRound(questions);
  }

  /** Ends the open round with `input_required`, asking `questions`. */
  #endRound(questions: Map<string, Question>): void {
    const inputRequests: Record<string, unknown> = {};
    for (const [key, question] of questions) {
      inputRequests[key] = question.params === undefined ? { method: question.method } : { method: question.method, params: question.params };
    }
    this.#writer?.finish({ jsonrpc: '2.0', id: this.#clientId, result: { resultType: 'input_required', inputRequests, requestState: this.id } });
    this.#writer = undefined;
    this.#inputTimer = setTimeout(() => this.#cancel('the client did not answer in time'), this.#owner.inputTimeoutMs);
    this.#inputTimer.unref();
    this.#owner.changed();
  }

  #openRound(message: JsonRpcRequest, writer: ResponseWriter): void {
    this.#writer = writer;
    this.#clientId = message.id;
    const meta = (message.params?._meta ?? {}) as Record<string, unknown>;
    this.#capabilities = (meta[META_CLIENT_CAPABILITIES] ?? {}) as Record<string, unknown>;
    this.#logLevel = typeof meta[META_LOG_LEVEL] === 'string' ? (meta[META_LOG_LEVEL] as string) : undefined;
    writer.onAbandoned(() => {
      if (this.#writer === writer) this.#cancel('the client disconnected');
    });
  }

  #finishWith(message: JsonRpcResponse): void {
    this.#writer?.finish({ ...message, id: this.#clientId });
    this.#end();
  }

  /** Declines every open question, tells the server to stop, forgets the call. */
  #cancel(reason: string): void {
    if (this.#over) return;
    for (const question of [...this.#asked.values(), ...this.#gathering.values()]) {
      // A form the user dismissed is the answer servers handle best; other questions get an error.
      this.#owner.peer.respond(
        question.method === 'elicitation/create'
          ? { jsonrpc: '2.0', id: question.serverId, result: { action: 'cancel' } }
          : { jsonrpc: '2.0', id: question.serverId, error: { code: -32603, message: `berth: ${reason}` } },
      );
    }
    this.#owner.peer.cancel(this.#serverRequestId, reason);
    this.#end();
  }

  #end(): void {
    this.#over = true;
    this.#asked.clear();
    this.#gathering.clear();
    if (this.#gatherTimer) clearTimeout(this.#gatherTimer);
    this.#clearInputTimer();
    this.#writer = undefined;
    this.#owner.ended(this);
  }

  #clearInputTimer(): void {
    if (this.#inputTimer) clearTimeout(this.#inputTimer);
    this.#inputTimer = undefined;
  }
}

/** 2026-07-28 has no `elicitationId` (the client learns the outcome by retrying). */
function withoutElicitationId(params: Record<string, unknown>): Record<string, unknown> {
  if (!('elicitationId' in params)) return params;
  const { elicitationId: _id, ...rest } = params;
  return rest;
}
