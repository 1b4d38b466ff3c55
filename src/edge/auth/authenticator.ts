import { BerthError } from '../../core/errors.ts';
import type { OutboundPolicy } from '../../core/outbound-policy.ts';
import type { ApiKeyService } from '../../control/api-keys.ts';
import type { Authorizer } from '../../store/store.ts';
import { Issuer, IssuerUnavailable } from './issuer.ts';
import { JwtVerifier, TokenRefused } from './jwt.ts';
import { OutboundFetcher } from './outbound-fetch.ts';
import { ANONYMOUS, type Principal } from './principal.ts';
import { bearerToken, challenge } from './bearer.ts';

type JwtAuthorizer = Extract<Authorizer, { type: 'jwt' }>;

export interface AuthenticatorOptions {
  /** How soon a token signed with an unknown key may make an issuer's key set be fetched again. */
  jwksCooldownMs: number;
  apiKeys: ApiKeyService;
  /** Where berth may fetch issuers' documents and keys from (`BERTH_OUTBOUND_ALLOW`, berth's own ports). */
  outbound: OutboundPolicy;
}

/**
 * Runs a runtime's authorizer on a data-plane request and says who it is from. A refusal is a 401 (or 403 for a
 * missing scope); for a jwt runtime its `WWW-Authenticate` points MCP clients at the runtime's protected resource
 * metadata (RFC 9728), from which they find the issuer.
 */
export class Authenticator {
  readonly #options: AuthenticatorOptions;
  readonly #fetcher: OutboundFetcher;
  /** One per discovery URL, so each issuer's document and keys are fetched once for every runtime it serves. */
  readonly #issuers = new Map<string, Issuer>();
  readonly #verifiers = new Map<string, JwtVerifier>();

  constructor(options: AuthenticatorOptions) {
    this.#options = options;
    this.#fetcher = new OutboundFetcher({ policy: options.outbound });
  }

  /** A `sigv4` authorizer is the edge's to check (a signature covers the body, which the edge streams on). */
  async authenticate(request: Request, url: URL, runtime: string, authorizer: Exclude<Authorizer, { type: 'sigv4' }> | undefined): Promise<Principal> {
    if (authorizer === undefined || authorizer.type === 'none') return ANONYMOUS;
    if (authorizer.type === 'apiKey') return await this.#apiKey(request, runtime);
    const metadata = resourceMetadataUrl(url, runtime);
    const token = bearerToken(request.headers.get('authorization'));
    if (token === undefined) {
      throw new BerthError(
        'unauthorized',
        `runtime "${runtime}" needs a bearer token from its issuer (Authorization: Bearer <token>); its protected resource metadata at ${metadata} names the issuer`,
        {
          challenge: challenge({ resource_metadata: metadata, ...scopeParam(authorizer) }),
        },
      );
    }
    try {
      const claims = await this.#verifier(authorizer).verify(token);
      const subject = typeof claims.sub === 'string' ? claims.sub : typeof claims.client_id === 'string' ? claims.client_id : undefined;
      if (subject === undefined) throw new TokenRefused('the token names no subject (sub) or client (client_id)');
      return { key: `jwt:${claims.iss ?? ''}:${subject}`, userId: subject };
    } catch (error) {
      if (error instanceof IssuerUnavailable) throw unavailable(runtime, error);
      if (!(error instanceof TokenRefused)) throw error;
      const scope = error.kind === 'insufficient_scope' ? scopeParam(authorizer) : {};
      throw new BerthError(
        error.kind === 'insufficient_scope' ? 'forbidden' : 'unauthorized',
        `runtime "${runtime}" refused the bearer token: ${error.message}`,
        {
          challenge: challenge({ error: error.kind, error_description: error.message, ...scope, resource_metadata: metadata }),
        },
      );
    }
  }

  /** A runtime key of this runtime stands for its user; any other credential is refused alike. */
  async #apiKey(request: Request, runtime: string): Promise<Principal> {
    const token = bearerToken(request.headers.get('authorization'));
    if (token === undefined) {
      throw new BerthError(
        'unauthorized',
        `runtime "${runtime}" needs one of its API keys (Authorization: Bearer berth_…); an admin makes one with: berth keys create --runtime ${runtime} --user USER`,
        {
          challenge: challenge({ realm: 'berth' }),
        },
      );
    }
    const record = await this.#options.apiKeys.verify(token);
    if (record?.scope.kind === 'runtime' && record.scope.runtime === runtime) return { key: `apikey:${record.userId}`, userId: record.userId };
    const refusal =
      record === undefined
        ? 'the API key is unknown or was revoked'
        : record.scope.kind === 'admin'
          ? "an admin key opens berth's control plane, not a runtime's sessions"
          : `the API key is for runtime "${record.scope.runtime}"`;
    throw new BerthError('unauthorized', `runtime "${runtime}" refused the API key: ${refusal}`, {
      challenge: challenge({ realm: 'berth', error: 'invalid_token', error_description: refusal }),
    });
  }

  /**
   * The runtime's protected resource metadata (RFC 9728); undefined when it takes no tokens. The issuer it names is
   * the one its discovery document confirmed, fetched as a token check would fetch it and remembered alike.
   */
  async resourceMetadata(url: URL, runtime: string, authorizer: Authorizer | undefined): Promise<Record<string, unknown> | undefined> {
    if (authorizer?.type !== 'jwt') return undefined;
    let issuer: string;
    try {
      issuer = await this.#verifier(authorizer).issuer();
    } catch (error) {
      throw error instanceof IssuerUnavailable ? unavailable(runtime, error) : error;
    }
    return {
      resource: `${url.origin}/runtimes/${runtime}`,
      authorization_servers: [issuer],
      ...(advertisedScopes(authorizer).length > 0 ? { scopes_supported: advertisedScopes(authorizer) } : {}),
      bearer_methods_supported: ['header'],
      resource_name: `berth runtime ${runtime}`,
    };
  }

  #verifier(authorizer: JwtAuthorizer): JwtVerifier {
    const key = JSON.stringify(authorizer);
    let verifier = this.#verifiers.get(key);
    if (!verifier) {
      let issuer = this.#issuers.get(authorizer.discoveryUrl);
      if (!issuer) {
        issuer = new Issuer(authorizer.discoveryUrl, { fetcher: this.#fetcher, keysCooldownMs: this.#options.jwksCooldownMs });
        this.#issuers.set(authorizer.discoveryUrl, issuer);
      }
      verifier = new JwtVerifier(authorizer, issuer);
      this.#verifiers.set(key, verifier);
    }
    return verifier;
  }
}

/** A runtime's tokens cannot be checked now: 503 with Retry-After, saying what is wrong and who can mend it. */
function unavailable(runtime: string, error: IssuerUnavailable): BerthError {
  const next = `berth asks the issuer again in ${error.retryAfter} s (retry then); if this persists, the issuer or the runtime's authorizer.discoveryUrl needs fixing`;
  return new BerthError('issuer_unavailable', `runtime "${runtime}" cannot check bearer tokens now: ${error.message}. ${next}`, {
    retryAfter: error.retryAfter,
  });
}

/** The scopes a client should ask its issuer for: every required one, and those of which one is allowed. */
function advertisedScopes(authorizer: JwtAuthorizer): string[] {
  return [...new Set([...(authorizer.requiredScopes ?? []), ...(authorizer.allowedScopes ?? [])])];
}

function scopeParam(authorizer: JwtAuthorizer): { scope?: string } {
  const scopes = advertisedScopes(authorizer);
  return scopes.length > 0 ? { scope: scopes.join(' ') } : {};
}

/** Where a runtime's protected resource metadata is served, by RFC 9728's path insertion on the runtime's URL. */
function resourceMetadataUrl(url: URL, runtime: string): string {
  return `${url.origin}/.well-known/oauth-protected-resource/runtimes/${runtime}`;
}
