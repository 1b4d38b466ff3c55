import { lazy } from '../lazy-builtin.ts';
import { RPC } from '../../core/rpc-codes.ts';
import { META_CLIENT_CAPABILITIES, META_LOG_LEVEL } from '../../mcp/classify.ts';
import { type InitializeResult, logLevelPasses, missingCapability, toModernError, toModernResult } from '../../mcp/legacy.ts';
import type { JsonRpcId, JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../../mcp/jsonrpc.ts';
import type { ResponseWriter } from '../response-writer.ts';
import type { PeerFailure } from '../stdio-peer.ts';
import type { BridgeSink, LegacyPeer } from './peer.ts';

/** How long a round waits for more questions before it asks the client (parallel questions share a round). */
const GATHER_MS = 15;

interface Question {
  /** The server's request as it came, to hand to another call when this one ends before it is answered. */
  request: JsonRpcRequest;
  serverId: JsonRpcId;
  method: string;
  params: Record<string, unknown> | undefined;
  attributed: boolean;
}

/**
 * A legacy server may name the key its question goes under in the client's `inputRequests` (and answers come back
 * under in `inputResponses`) with `_meta["dev.berth/input-key"]`; berth numbers the others. The hint is removed
 * before the question reaches the client, and so is the 2025-11-25 `elicitationId`, which 2026-07-28 dropped.
 */
export const INPUT_KEY_META = 'dev.berth/input-key';

function keyOf(
  params: Record<string, unknown> | undefined,
  used: Set<string>,
  next: () => string,
): { key: string; params: Record<string, unknown> | undefined } {
  if (params === undefined) return { key: next(), params };
  const { elicitationId: _id, ...rest } = params;
  const meta = rest._meta as Record<string, unknown> | undefined;
  const hint = meta?.[INPUT_KEY_META];
  if (meta && hint !== undefined) {
    const { [INPUT_KEY_META]: _hint, ...others } = meta;
    if (Object.keys(others).length === 0) delete rest._meta;
    else rest._meta = others;
  }
  const key = typeof hint === 'string' && hint !== '' && !used.has(hint) ? hint : next();
  return { key, params: rest };
}

/** Whether a client's answer has the shape of a result to the question it answers; anything else counts as missing. */
function validAnswer(method: string, answer: unknown): boolean {
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) return false;
  const value = answer as Record<string, unknown>;
  switch (method) {
    case 'elicitation/create':
      return value.action === 'accept' || value.action === 'decline' || value.action === 'cancel';
    case 'sampling/createMessage':
      return typeof value.role === 'string' && typeof value.content === 'object' && value.content !== null;
    case 'roots/list':
      return Array.isArray(value.roots);
    default:
      return true;
  }
}

export interface CallOwner {
  peer: LegacyPeer;
  runtime: string;
  init: InitializeResult;
  inputTimeoutMs: number;
  /** Why one more call may not wait on its client (the session is at its cap), or undefined when it may. */
  mayWait(): string | undefined;
  /** The call now waits on its client, or no longer does. */
  changed(): void;
  /**
   * A server request this call was given by guess and ends without answering: it goes to whichever call may own it
   * now, or gets the answer berth gives when none runs. A question nobody answers would hold its server forever.
   */
  reroute(request: JsonRpcRequest): void;
  /** The call ended (answered, failed, cancelled, abandoned); forget it. */
  ended(call: BridgedCall): void;
  /** The server asked for roots. */
  rootsAsked(): void;
  /** A roots question got its answer: the client's roots, or berth's for want of them. */
  rootsAnswered(byClient: boolean): void;
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
  readonly id = `c_${lazy('node:crypto').randomBytes(12).toString('base64url')}`;
  readonly method: string;
  readonly startedAt = Date.now();
  readonly #owner: CallOwner;
  #serverRequestId = 0;
  #writer: ResponseWriter | undefined;
  /** Rounds ended with input_required so far; the requestState of each names it. */
  #round = 0;
  #clientId: JsonRpcId = 0;
  #capabilities: Record<string, unknown> = {};
  #logLevel: string | undefined;
  /** Keys the client was asked and has not answered yet → the server requests waiting on them. */
  readonly #asked = new Map<string, Question>();
  /** Questions gathered for the round about to end. */
  readonly #gathering = new Map<string, Question>();
  /** Every key used in this call, so none is reused (clients may dedupe by key). */
  readonly #usedKeys = new Set<string>();
  /** Answers the first request brought before anything was asked. */
  #preAnswers: Record<string, unknown> = {};
  #nextKey = 1;
  #gatherTimer: NodeJS.Timeout | undefined;
  #inputTimer: NodeJS.Timeout | undefined;
  /** The final answer, when it came while no round was open (the server stopped waiting on its own). */
  #held: JsonRpcResponse | undefined;
  #over = false;
  /** True once the call went to the server; until then it may only carry questions the server asked without it. */
  #sent = false;
  /** Waiting for none of the call's questions to be open. */
  #quietWaiters: Array<() => void> = [];

  constructor(owner: CallOwner, message: JsonRpcRequest, writer: ResponseWriter) {
    this.#owner = owner;
    this.method = message.method;
    const early = message.params?.inputResponses;
    if (typeof early === 'object' && early !== null && !Array.isArray(early)) this.#preAnswers = { ...(early as Record<string, unknown>) };
    this.#openRound(message, writer);
  }

  /** Sends the call to the server under `request` (the owner's translation of the first round's request). */
  start(request: JsonRpcRequest): void {
    if (this.#over || this.#sent) return;
    this.#sent = true;
    this.#serverRequestId = this.#owner.peer.request(request, this);
  }

  /** True once the call went to the server. */
  get sent(): boolean {
    return this.#sent;
  }

  get over(): boolean {
    return this.#over;
  }

  /** Whether the client of the round now open (or last open) declared roots. */
  get declaresRoots(): boolean {
    return this.#capabilities.roots !== undefined;
  }

  /** Resolves once none of the call's questions waits on its client, or the call is over. */
  quiet(): Promise<void> {
    if (this.#isQuiet()) return Promise.resolve();
    return new Promise((resolve) => this.#quietWaiters.push(resolve));
  }

  /** The server cancelled its question `serverId`: nobody answers it now. */
  withdraw(serverId: JsonRpcId): void {
    for (const questions of [this.#gathering, this.#asked]) {
      for (const [key, question] of questions) {
        if (question.serverId !== serverId) continue;
        questions.delete(key);
        this.#settleQuiet();
        return;
      }
    }
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
  resume(message: JsonRpcRequest, writer: ResponseWriter, round: number): void {
    if (this.running || round !== this.#round) {
      // Each requestState continues one round, once: a replayed or stale one would fork the call.
      writer.fail(
        'request_state_expired',
        'this requestState was already used to continue its call; continue with the requestState of the latest input_required result',
      );
      return;
    }
    this.#clearInputTimer();
    this.#openRound(message, writer);
    if (this.#held) {
      this.#finishWith(this.#held);
      return;
    }
    const given = message.params?.inputResponses;
    const answers = (typeof given === 'object' && given !== null ? given : {}) as Record<string, unknown>;
    for (const [key, question] of this.#asked) {
      // A missing or malformed answer leaves its question open; it is asked again below.
      if (!validAnswer(question.method, answers[key])) continue;
      this.#asked.delete(key);
      this.#answer(question, { jsonrpc: '2.0', id: question.serverId, result: answers[key] as Record<string, unknown> }, true);
    }
    // Unknown keys are ignored; questions still unanswered are asked again.
    if (this.#asked.size > 0) this.#endRound(new Map(this.#asked));
    else {
      this.#owner.changed();
      this.#settleQuiet();
    }
  }

  // BridgeSink: what the server sends for this call.

  onNotification(message: JsonRpcNotification): void {
    if (message.method === 'notifications/message' && (this.#logLevel === undefined || !logLevelPasses(message.params?.level, this.#logLevel))) return;
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

  onFailure(why: string, code: PeerFailure = 'sandbox_unavailable'): void {
    if (this.#over) return;
    this.#writer?.fail(code, code === 'server_crashed' ? why : `runtime "${this.#owner.runtime}": ${why}`);
    this.#end(why);
  }

  /**
   * A question from the server for this call. `attributed` says berth knows it belongs here (the transport tied it
   * to this call, or this was the only call running); a guessed question never fails the call.
   */
  ask(request: JsonRpcRequest, attributed: boolean): void {
    if (request.method === 'roots/list') this.#owner.rootsAsked();
    const { key, params } = keyOf(request.params, this.#usedKeys, () => `berth-${this.#nextKey++}`);
    this.#usedKeys.add(key);
    const question: Question = { request, serverId: request.id, method: request.method, params, attributed };
    const early = this.#preAnswers[key];
    if (early !== undefined && validAnswer(request.method, early)) {
      // The client sent this answer before it was asked (inputResponses on the first request).
      delete this.#preAnswers[key];
      this.#answer(question, { jsonrpc: '2.0', id: request.id, result: early as Record<string, unknown> }, true);
      return;
    }
    this.#gathering.set(key, question);
    if (!this.#gatherTimer) this.#gatherTimer = setTimeout(() => this.#askGathered(), GATHER_MS);
  }

  /** The client went away mid-round, or the session ends: stop the server's work on this call. */
  abandon(reason: string): void {
    this.#cancel(reason);
  }

  /**
   * The questions of one round, sorted by what this request's client can answer. Those it cannot are refused to the
   * server as a client without the capability would refuse them. If it can answer none of them and berth is sure
   * they are this call's, the call ends with -32021 naming what the client lacks.
   */
  #askGathered(): void {
    this.#gatherTimer = undefined;
    const questions = new Map<string, Question>();
    let required: Record<string, unknown> | undefined;
    for (const [key, question] of this.#gathering) {
      const missing = missingCapability(question.method, question.params, this.#capabilities);
      if (!missing) {
        questions.set(key, question);
        continue;
      }
      // Stateful-era servers ask for roots as session context, often unprompted: a client without roots has none
      // to give, which is an answer, not a reason to fail the call.
      if (question.attributed && question.method !== 'roots/list') required ??= missing;
      this.#answer(
        question,
        question.method === 'roots/list'
          ? { jsonrpc: '2.0', id: question.serverId, result: { roots: [] } }
          : { jsonrpc: '2.0', id: question.serverId, error: { code: RPC.METHOD_NOT_FOUND, message: `the client cannot answer ${question.method}` } },
        false,
      );
    }
    this.#gathering.clear();
    if (questions.size === 0) {
      this.#settleQuiet();
      if (required && this.running) {
        this.#writer?.finish({
          jsonrpc: '2.0',
          id: this.#clientId,
          error: {
            code: RPC.MISSING_CAPABILITY,
            message: "The server asked for input this request's clientCapabilities do not declare",
            data: { requiredCapabilities: required },
          },
        });
        this.#cancel('the client lacks a capability the server needs');
      }
      return;
    }
    const refused = this.#asked.size === 0 ? this.#owner.mayWait() : undefined;
    for (const [key, question] of questions) this.#asked.set(key, question);
    if (refused !== undefined) {
      // One call more waiting on its client than the session keeps: this call ends, and only this one.
      this.#writer?.refuse(this.#clientId, 'limit_exceeded', refused);
      this.#cancel('the session has as many calls waiting on their clients as berth keeps');
      return;
    }
    if (this.running) this.#endRound(questions);
  }

  /** Ends the open round with `input_required`, asking `questions`. */
  #endRound(questions: Map<string, Question>): void {
    const inputRequests: Record<string, unknown> = {};
    for (const [key, question] of questions) {
      inputRequests[key] = question.params === undefined ? { method: question.method } : { method: question.method, params: question.params };
    }
    this.#round++;
    this.#writer?.finish({
      jsonrpc: '2.0',
      id: this.#clientId,
      result: { resultType: 'input_required', inputRequests, requestState: `${this.id}.${this.#round}` },
    });
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

  /** Tells the server to stop (if it has the call), settles every open question, forgets the call. */
  #cancel(reason: string): void {
    if (this.#over) return;
    if (this.#sent) this.#owner.peer.cancel(this.#serverRequestId, reason);
    this.#end(reason);
  }

  /**
   * Ends the call. Every question still open gets an answer, so no server waits on one forever: a question this call
   * was only given by guess goes back to the bridge for the call it may belong to, the others are declined.
   */
  #end(reason = 'the call that asked ended first'): void {
    this.#over = true;
    const open = [...this.#asked.values(), ...this.#gathering.values()];
    this.#asked.clear();
    this.#gathering.clear();
    for (const question of open) {
      if (!question.attributed) {
        this.#owner.reroute(question.request);
        continue;
      }
      // A form the user dismissed is the answer servers handle best; other questions get an error.
      this.#answer(
        question,
        question.method === 'elicitation/create'
          ? { jsonrpc: '2.0', id: question.serverId, result: { action: 'cancel' } }
          : { jsonrpc: '2.0', id: question.serverId, error: { code: RPC.INTERNAL_ERROR, message: `berth: ${reason}` } },
        false,
      );
    }
    if (this.#gatherTimer) clearTimeout(this.#gatherTimer);
    this.#gatherTimer = undefined;
    this.#clearInputTimer();
    this.#writer = undefined;
    this.#owner.ended(this);
    this.#settleQuiet();
  }

  /** Answers one of the server's questions; the owner learns of roots answers, which change the server's context. */
  #answer(question: Question, message: JsonRpcResponse, byClient: boolean): void {
    this.#owner.peer.respond(message);
    if (question.method === 'roots/list') this.#owner.rootsAnswered(byClient);
  }

  #isQuiet(): boolean {
    return this.#over || (this.#asked.size === 0 && this.#gathering.size === 0);
  }

  #settleQuiet(): void {
    if (!this.#isQuiet()) return;
    const waiters = this.#quietWaiters;
    this.#quietWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #clearInputTimer(): void {
    if (this.#inputTimer) clearTimeout(this.#inputTimer);
    this.#inputTimer = undefined;
  }
}
