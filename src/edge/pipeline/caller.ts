import type { Answer } from '../../core/answer.ts';
import type { Inbound, RequestHeaders } from '../../core/inbound.ts';
import type { Params } from '../../core/router.ts';
import type { ResolvedRuntime } from '../../control/runtimes.ts';
import type { Principal } from '../auth/principal.ts';
import { notes } from '../../observability/request-scope.ts';

/** Only admission (./admission.ts) makes a Caller: a handler that takes one cannot be reached without it. */
declare const admitted: unique symbol;

/**
 * A request to one of a runtime's doors (MCP, invocations, commands, AgentCore's data plane), once admitted: who it
 * is from and which runtime version it is for, worked out once for every step after. Each door's handler takes
 * this, never a bare Request, so a route cannot skip authentication or rate limiting by forgetting to call them.
 */
export interface Caller {
  readonly [admitted]: true;
  /**
   * The API the request came through: berth's own, or AgentCore's (InvokeAgentRuntime and friends). Errors leave
   * in its wire format, rendered where they happen, never parsed back out of another format's body.
   */
  readonly door: 'berth' | 'agentcore';
  /** The request, its body checked against its signature as it streams where the door requires one. */
  readonly inbound: Inbound;
  /** The inbound request as a web-standard Request, made on first use (the hot path reads `inbound` instead). */
  readonly request: Request;
  readonly headers: RequestHeaders;
  readonly url: URL;
  /** Aborts when the client goes away before its answer is complete. */
  readonly signal: AbortSignal;
  readonly params: Params;
  /** The runtime's name, as berth's own routes name it. */
  readonly runtime: string;
  /** The endpoint named (`?endpoint=`, AgentCore's `qualifier`); the default one when undefined. */
  readonly endpoint: string | undefined;
  readonly principal: Principal;
  /** The version the endpoint points at, looked up once; undefined when there is no such runtime or endpoint. */
  readonly resolved: ResolvedRuntime | undefined;
}

export type CallerHandler = (caller: Caller) => Promise<Answer>;

/** Makes a Caller; admission's alone. Its request, headers, url and signal are its inbound's. */
export function admittedCaller(fields: Omit<Caller, typeof admitted | 'request' | 'headers' | 'url' | 'signal'>): Caller {
  return new AdmittedCaller(fields);
}

/** A class rather than an object literal with a getter: one is made for every request. */
class AdmittedCaller implements Caller {
  declare readonly [admitted]: true;
  readonly door: Caller['door'];
  readonly inbound: Inbound;
  readonly headers: RequestHeaders;
  readonly url: URL;
  readonly signal: AbortSignal;
  readonly params: Params;
  readonly runtime: string;
  readonly endpoint: string | undefined;
  readonly principal: Principal;
  readonly resolved: ResolvedRuntime | undefined;

  constructor(fields: Omit<Caller, typeof admitted | 'request' | 'headers' | 'url' | 'signal'>) {
    this.door = fields.door;
    this.inbound = fields.inbound;
    this.headers = fields.inbound.headers;
    this.url = fields.inbound.url;
    this.signal = fields.inbound.signal;
    this.params = fields.params;
    this.runtime = fields.runtime;
    this.endpoint = fields.endpoint;
    this.principal = fields.principal;
    this.resolved = fields.resolved;
    // What the request's metrics and span say of it: the runtime only once it exists, so labels name real ones.
    const noted = notes();
    noted.user = fields.principal.userId;
    if (fields.endpoint !== undefined) noted.endpoint = fields.endpoint;
    if (fields.resolved) {
      noted.runtime = fields.runtime;
      noted.version = fields.resolved.version.version;
    }
  }

  get request(): Request {
    return this.inbound.request;
  }
}
