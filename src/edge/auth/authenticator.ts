import { BerthError } from '../../core/errors.ts';
import type { ApiKeyService } from '../../control/api-keys.ts';
import type { Authorizer } from '../../store/store.ts';
import { JwtVerifier, TokenRefused } from './jwt.ts';
import { ANONYMOUS, type Principal } from './principal.ts';
import { bearerToken, challenge } from './bearer.ts';

type JwtAuthorizer = Extract<Authorizer, { type: 'jwt' }>;

export interface AuthenticatorOptions {
  /** How soon a token signed with an unknown key may make an issuer's key set be fetched again. */
  jwksCooldownMs: number;
  apiKeys: ApiKeyService;
}

/**
 * Runs a runtime's authorizer on a data-plane request and says who it is from. A refusal is a 401 (or 403 for a
 * missing scope); for a jwt runtime its `WWW-Authenticate` points MCP clients at the runtime's protected resource
 * metadata (RFC 9728), from which they find the issuer.
 */
export class Authenticator {
  readonly #options: AuthenticatorOptions;
  /** One verifier per distinct authorizer, so each issuer's keys are fetched once and shared. */
  readonly #verifiers = new Map<string, JwtVerifier>();

  constructor(options: AuthenticatorOptions) {
    this.#options = options;
  }

  /** A `sigv4` authorizer is the edge's to check (a signature covers the body, which the edge streams on). */
  async authenticate(request: Request, url: URL, runtime: string, authorizer: Exclude<Authorizer, { type: 'sigv4' }> | undefined): Promise<Principal> {
    if (authorizer === undefined || authorizer.type === 'none') return ANONYMOUS;
    if (authorizer.type === 'apiKey') return this.#apiKey(request, runtime);
    const metadata = resourceMetadataUrl(url, runtime);
    const token = bearerToken(request.headers.get('authorization'));
    if (token === undefined) {
      throw new BerthError('unauthorized', `runtime "${runtime}" needs a bearer token from its issuer (Authorization: Bearer <token>); its protected resource metadata at ${metadata} names the issuer`, {
        challenge: challenge({ resource_metadata: metadata, ...scopeParam(authorizer) }),
      });
    }
    try {
      const claims = await this.#verifier(authorizer).verify(token);
      const subject = typeof claims.sub === 'string' ? claims.sub : typeof claims.client_id === 'string' ? claims.client_id : undefined;
      if (subject === undefined) throw new TokenRefused('the token names no subject (sub) or client (client_id)');
      return { key: `jwt:${claims.iss ?? ''}:${subject}`, userId: subject };
    } catch (error) {
      if (!(error instanceof TokenRefused)) throw error;
      const scope = error.kind === 'insufficient_scope' ? scopeParam(authorizer) : {};
      throw new BerthError(error.kind === 'insufficient_scope' ? 'forbidden' : 'unauthorized', `runtime "${runtime}" refused the bearer token: ${error.message}`, {
        challenge: challenge({ error: error.kind, error_description: error.message, ...scope, resource_metadata: metadata }),
      });
    }
  }

  /** A runtime key of this runtime stands for its user; any other credential is refused alike. */
  #apiKey(request: Request, runtime: string): Principal {
    const token = bearerToken(request.headers.get('authorization'));
    if (token === undefined) {
      throw new BerthError('unauthorized', `runtime "${runtime}" needs one of its API keys (Authorization: Bearer berth_…); an admin makes one with: berth keys create --runtime ${runtime} --user USER`, {
        challenge: challenge({ realm: 'berth' }),
      });
    }
    const record = this.#options.apiKeys.verify(token);
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

  /** The runtime's protected resource metadata (RFC 9728); undefined when it takes no tokens. */
  async resourceMetadata(url: URL, runtime: string, authorizer: Authorizer | undefined): Promise<Record<string, unknown> | undefined> {
    if (authorizer?.type !== 'jwt') return undefined;
    return {
      resource: `${url.origin}/runtimes/${runtime}`,
      authorization_servers: [await this.#verifier(authorizer).issuer()],
      ...(advertisedScopes(authorizer).length > 0 ? { scopes_supported: advertisedScopes(authorizer) } : {}),
      bearer_methods_supported: ['header'],
      resource_name: `berth runtime ${runtime}`,
    };
  }

  #verifier(authorizer: JwtAuthorizer): JwtVerifier {
    const key = JSON.stringify(authorizer);
    let verifier = this.#verifiers.get(key);
    if (!verifier) {
      verifier = new JwtVerifier(authorizer, this.#options.jwksCooldownMs);
      this.#verifiers.set(key, verifier);
    }
    return verifier;
  }
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
