import { BerthError } from '../../core/errors.ts';
import type { Authorizer } from '../../store/store.ts';
import { JwtVerifier, TokenRefused } from './jwt.ts';
import { ANONYMOUS, type Principal } from './principal.ts';

type JwtAuthorizer = Extract<Authorizer, { type: 'jwt' }>;

export interface AuthenticatorOptions {
  /** How soon a token signed with an unknown key may make an issuer's key set be fetched again. */
  jwksCooldownMs: number;
}

/**
 * Runs a runtime's authorizer on a data-plane request and says who it is from. A refusal is a 401 (or 403 for a
 * missing scope) whose `WWW-Authenticate` points MCP clients at the runtime's protected resource metadata
 * (RFC 9728), from which they find the issuer.
 */
export class Authenticator {
  readonly #options: AuthenticatorOptions;
  /** One verifier per distinct authorizer, so each issuer's keys are fetched once and shared. */
  readonly #verifiers = new Map<string, JwtVerifier>();

  constructor(options: AuthenticatorOptions) {
    this.#options = options;
  }

  async authenticate(request: Request, url: URL, runtime: string, authorizer: Authorizer | undefined): Promise<Principal> {
    if (authorizer === undefined || authorizer.type === 'none') return ANONYMOUS;
    const metadata = resourceMetadataUrl(url, runtime);
    const token = bearerToken(request.headers.get('authorization'));
    if (token === undefined) {
      throw new BerthError('unauthorized', `runtime "${runtime}" needs a bearer token from its issuer (Authorization: Bearer <token>); its protected resource metadata at ${metadata} names the issuer`, {
        challenge: challenge({ resource_metadata: metadata, ...(authorizer.requiredScopes ? { scope: authorizer.requiredScopes.join(' ') } : {}) }),
      });
    }
    try {
      const claims = await this.#verifier(authorizer).verify(token);
      const subject = typeof claims.sub === 'string' ? claims.sub : typeof claims.client_id === 'string' ? claims.client_id : undefined;
      if (subject === undefined) throw new TokenRefused('the token names no subject (sub) or client (client_id)');
      return { key: `jwt:${claims.iss ?? ''}:${subject}`, userId: subject };
    } catch (error) {
      if (!(error instanceof TokenRefused)) throw error;
      const scope: Record<string, string> = error.kind === 'insufficient_scope' && authorizer.requiredScopes ? { scope: authorizer.requiredScopes.join(' ') } : {};
      throw new BerthError(error.kind === 'insufficient_scope' ? 'forbidden' : 'unauthorized', `runtime "${runtime}" refused the bearer token: ${error.message}`, {
        challenge: challenge({ error: error.kind, error_description: error.message, ...scope, resource_metadata: metadata }),
      });
    }
  }

  /** The runtime's protected resource metadata (RFC 9728); undefined when it takes no tokens. */
  async resourceMetadata(url: URL, runtime: string, authorizer: Authorizer | undefined): Promise<Record<string, unknown> | undefined> {
    if (authorizer?.type !== 'jwt') return undefined;
    return {
      resource: `${url.origin}/runtimes/${runtime}`,
      authorization_servers: [await this.#verifier(authorizer).issuer()],
      ...(authorizer.requiredScopes ? { scopes_supported: authorizer.requiredScopes } : {}),
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

/** Where a runtime's protected resource metadata is served, by RFC 9728's path insertion on the runtime's URL. */
function resourceMetadataUrl(url: URL, runtime: string): string {
  return `${url.origin}/.well-known/oauth-protected-resource/runtimes/${runtime}`;
}

function bearerToken(header: string | null): string | undefined {
  const match = header === null ? null : /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  return match?.[1];
}

/** A Bearer challenge; quoted values lose the characters a quoted-string cannot hold. */
function challenge(params: Record<string, string>): string {
  return `Bearer ${Object.entries(params)
    .map(([name, value]) => `${name}="${value.replace(/["\\\r\n]/g, '')}"`)
    .join(', ')}`;
}
