import { clientSignal } from '../../core/client-signal.ts';
import { BerthError } from '../../core/errors.ts';
import { inboundOf, type Inbound } from '../../core/inbound.ts';
import type { Params } from '../../core/router.ts';
import type { RuntimeService } from '../../control/runtimes.ts';
import { authorizerOf } from '../../core/runtime-spec.ts';
import { runtimeIdOf, type AwsIdentity } from '../agentcore/arn.ts';
import { bufferedVerified, isAwsSigned, isPresigned, signedOnly, streamVerified, verifyWithoutBody, type AwsAuth } from '../agentcore/auth.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import { ANONYMOUS, type Principal } from '../auth/principal.ts';
import type { RateLimiter } from '../rate-limit.ts';
import { admittedCaller, type Caller } from './caller.ts';

export interface CallerAdmissionOptions {
  runtimes: RuntimeService;
  authenticator: Authenticator;
  aws: AwsAuth;
  identity: AwsIdentity;
  limiter: RateLimiter;
  /**
   * On a node of a cluster: the principal another node already admitted a forwarded request as. Such a request is
   * neither authenticated nor counted again (its signature named the first node's Host, its rate was taken there).
   */
  vouched?: (inbound: Inbound) => Principal | undefined;
}

/** A small body AgentCore's data plane reads whole to check its signature (StopRuntimeSession, commands). */
export const MAX_SMALL_BODY = 1024 * 1024;

/** AgentCore's words when a caller signs for a token runtime, or brings a token to a SigV4 one. */
const METHOD_MISMATCH =
  'Authorization method mismatch. The agent is configured for a different authorization method than what was used in your request. (OAuth or SigV4)';

/**
 * The one step every request to a runtime passes before anything is made for it: the runtime is looked up once,
 * its caller authenticated by the runtime's authorizer, and its rate limit taken. What comes out is the Caller
 * every door's handler takes. Two doors admit by different rules: berth's own routes, and AgentCore's data plane.
 */
export class CallerAdmission {
  readonly #options: CallerAdmissionOptions;

  constructor(options: CallerAdmissionOptions) {
    this.#options = options;
  }

  /**
   * berth's own routes (`/runtimes/{name}/…`, `?endpoint=`): a runtime without an authorizer is anonymous to all;
   * so are the signers of a SigV4 runtime, who hold berth's AWS keys. A runtime that does not exist is admitted
   * anonymously, for its handler to answer in its own wire format that there is none.
   */
  async native(inbound: Inbound, params: Params): Promise<Caller> {
    const { runtimes, authenticator, aws, limiter } = this.#options;
    const { url } = inbound;
    const runtime = params.name as string;
    const endpoint = url.search === '' ? undefined : (url.searchParams.get('endpoint') ?? undefined);
    // Every request of a warm session is resolved from what this node keeps, with no wait.
    const resolved = runtimes.resolved(runtime, endpoint) ?? (await runtimes.find(runtime, endpoint));
    const spec = resolved?.version.spec;
    const vouched = this.#options.vouched?.(inbound);
    if (vouched) return admittedCaller({ door: 'berth', inbound, params, runtime, endpoint, principal: vouched, resolved });
    const authorizer = spec && authorizerOf(spec);
    let admitted = inbound;
    let principal: Principal = ANONYMOUS;
    // Only a runtime with an authorizer needs the request as a web Request (the hot path of one without never makes it).
    if (authorizer?.type === 'sigv4') admitted = inboundOf(signedOnly(inbound.request, url, aws, runtime), url, inbound.signal);
    else if (authorizer) principal = await authenticator.authenticate(inbound.request, url, runtime, authorizer);
    if (spec?.rateLimits) limiter.take(runtime, spec.rateLimits, principal.key);
    return admittedCaller({ door: 'berth', inbound: admitted, params, runtime, endpoint, principal, resolved });
  }

  /**
   * AgentCore's data plane (the runtime by ARN or id, `qualifier` as the endpoint): a runtime with an authorizer
   * takes its own bearer credentials and never SigV4; any other takes SigV4 (berth's AWS keys) and acts as the
   * anonymous principal. The request handed back carries its body checked against the signature, as it streams or
   * (`small`) read whole.
   */
  async agentcore(request: Request, params: Params, url: URL, body: 'streamed' | 'small' | 'none', upgrade?: Inbound): Promise<Caller> {
    const { runtimes, authenticator, aws, identity, limiter } = this.#options;
    const vouched = this.#options.vouched?.(inboundOf(request, url));
    const signed = isAwsSigned(request) || (body === 'none' && isPresigned(url));
    const verified = (): Request | Promise<Request> => {
      if (body === 'none') {
        verifyWithoutBody(request, url, aws);
        return request;
      }
      return body === 'small' ? bufferedVerified(request, url, aws, MAX_SMALL_BODY) : streamVerified(request, url, aws);
    };
    const checked = signed && !vouched ? await verified() : request;
    const record = await runtimes.getByIdOrName(runtimeIdOf(identity, params.name as string, url.searchParams.get('accountId')));
    const endpoint = url.searchParams.get('qualifier') ?? undefined;
    const resolved = await runtimes.resolve(record.name, endpoint);
    const { spec } = resolved.version;
    const authorizer = authorizerOf(spec);
    const caller = (admitted: Request, principal: Principal): Caller =>
      admittedCaller({
        door: 'agentcore',
        // A WebSocket handshake keeps its connection's signal, and that it can be upgraded.
        inbound: upgrade ? { ...inboundOf(admitted, url, upgrade.signal), upgrade: upgrade.upgrade === true } : inboundOf(admitted, url, clientSignal(request)),
        params: { name: record.name },
        runtime: record.name,
        endpoint,
        principal,
        resolved,
      });
    if (vouched) return caller(request, vouched);
    if (authorizer === undefined || authorizer.type === 'none' || authorizer.type === 'sigv4') {
      // Unsigned, to a SigV4 runtime: the signature check says what is missing (unless AWS auth is off).
      const admitted = signed ? checked : await verified();
      limiter.take(record.name, spec.rateLimits, ANONYMOUS.key);
      return caller(admitted, ANONYMOUS);
    }
    if (signed) throw new BerthError('forbidden', METHOD_MISMATCH);
    const principal = await authenticator.authenticate(request, url, record.name, authorizer);
    limiter.take(record.name, spec.rateLimits, principal.key);
    return caller(request, principal);
  }
}
