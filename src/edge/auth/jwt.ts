import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import type { Authorizer, ClaimRule } from '../../store/store.ts';

type JwtAuthorizer = Extract<Authorizer, { type: 'jwt' }>;

/** Seconds of clock difference tolerated between berth and the issuer on `exp`, `nbf` and `iat`. */
const CLOCK_SKEW_SECONDS = 60;
const DISCOVERY_TIMEOUT_MS = 5_000;
/** The issuer's discovery document is fetched again after this long (keys have their own, shorter refresh). */
const DISCOVERY_TTL_MS = 60 * 60 * 1000;
/** Signature algorithms berth accepts: asymmetric only, since the key comes from a public JWKS. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** Why a token was refused: `invalid_token` (401) or `insufficient_scope` (403), as RFC 6750 names them. */
export class TokenRefused extends Error {
  readonly kind: 'invalid_token' | 'insufficient_scope';
  constructor(message: string, kind: 'invalid_token' | 'insufficient_scope' = 'invalid_token') {
    super(message);
    this.kind = kind;
  }
}

interface Discovered {
  issuer: string;
  jwks: ReturnType<typeof createRemoteJWKSet>;
}

/**
 * Verifies bearer tokens for one `jwt` authorizer. The issuer and its key set come from the OpenID discovery
 * document; keys are cached, and a token signed with a key not yet seen makes the set be fetched again (at most
 * once per `cooldownMs`), which is how a rotation is picked up.
 */
export class JwtVerifier {
  readonly #config: JwtAuthorizer;
  readonly #cooldownMs: number;
  #discovered: Promise<Discovered> | undefined;
  #discoveredAt = 0;

  constructor(config: JwtAuthorizer, cooldownMs: number) {
    this.#config = config;
    this.#cooldownMs = cooldownMs;
  }

  /** The issuer's identifier, as its discovery document states it. */
  async issuer(): Promise<string> {
    return (await this.#discover()).issuer;
  }

  /** The token's claims, once it passes every check; throws TokenRefused saying which failed. */
  async verify(token: string): Promise<JWTPayload> {
    const { issuer, jwks } = await this.#discover();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer,
        ...(this.#config.allowedAudience ? { audience: this.#config.allowedAudience } : {}),
        clockTolerance: CLOCK_SKEW_SECONDS,
        algorithms: ALGORITHMS,
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      throw new TokenRefused(describe(error));
    }
    const client = typeof payload.client_id === 'string' ? payload.client_id : typeof payload.azp === 'string' ? payload.azp : undefined;
    if (this.#config.allowedClients && (client === undefined || !this.#config.allowedClients.includes(client))) {
      throw new TokenRefused(client === undefined ? 'the token names no client (client_id or azp), and this runtime allows only some' : `client "${client}" is not one this runtime allows`);
    }
    const scopes = scopesOf(payload);
    const missing = (this.#config.requiredScopes ?? []).filter((scope) => !scopes.includes(scope));
    if (missing.length > 0) throw new TokenRefused(`the token lacks the scope${missing.length > 1 ? 's' : ''} ${missing.join(' ')} this runtime requires`, 'insufficient_scope');
    const allowed = this.#config.allowedScopes;
    if (allowed && !allowed.some((scope) => scopes.includes(scope))) throw new TokenRefused(`the token holds none of the scopes this runtime allows (${allowed.join(' ')})`, 'insufficient_scope');
    for (const rule of this.#config.requiredClaims ?? []) {
      if (!meets(payload[rule.claim], rule)) throw new TokenRefused(`the token's claim "${rule.claim}" does not meet this runtime's rule (${rule.operator} ${JSON.stringify(rule.value)})`);
    }
    return payload;
  }

  #discover(): Promise<Discovered> {
    if (!this.#discovered || Date.now() - this.#discoveredAt > DISCOVERY_TTL_MS) {
      const attempt = discover(this.#config.discoveryUrl, this.#cooldownMs);
      this.#discovered = attempt;
      this.#discoveredAt = Date.now();
      // A failed discovery is tried again by the next request, never kept as the answer.
      attempt.catch(() => {
        if (this.#discovered === attempt) this.#discovered = undefined;
      });
    }
    return this.#discovered;
  }
}

async function discover(url: string, cooldownMs: number): Promise<Discovered> {
  let document: { issuer?: unknown; jwks_uri?: unknown };
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS), headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(`it answered ${response.status}`);
    document = (await response.json()) as typeof document;
  } catch (error) {
    throw new TokenRefused(`berth could not read the issuer's discovery document at ${url}: ${(error as Error).message}`);
  }
  if (typeof document.issuer !== 'string' || typeof document.jwks_uri !== 'string') {
    throw new TokenRefused(`the discovery document at ${url} lacks issuer or jwks_uri`);
  }
  const jwks = createRemoteJWKSet(new URL(document.jwks_uri), { cooldownDuration: cooldownMs, timeoutDuration: DISCOVERY_TIMEOUT_MS });
  return { issuer: document.issuer, jwks };
}

/** Scopes as issuers put them: a space-separated `scope` string, or an `scp` list. */
function scopesOf(payload: JWTPayload): string[] {
  if (typeof payload.scope === 'string') return payload.scope.split(' ').filter(Boolean);
  if (Array.isArray(payload.scp)) return payload.scp.filter((scope): scope is string => typeof scope === 'string');
  if (typeof payload.scp === 'string') return payload.scp.split(' ').filter(Boolean);
  return [];
}

function meets(value: unknown, rule: ClaimRule): boolean {
  const list = Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined;
  switch (rule.operator) {
    case 'equals':
      return typeof value === 'string' && value === rule.value;
    case 'contains':
      return list !== undefined && typeof rule.value === 'string' && list.includes(rule.value);
    case 'containsAny':
      return list !== undefined && Array.isArray(rule.value) && rule.value.some((v) => list.includes(v));
  }
}

/** jose's refusals in words a caller can act on. */
function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the token has expired; get a new one from the issuer';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return 'the token is for another audience than this runtime allows';
    if (error.claim === 'iss') return "the token is from another issuer than this runtime's";
    if (error.claim === 'nbf') return 'the token is not valid yet';
    return `the token's "${error.claim}" claim is not acceptable (${error.reason})`;
  }
  if (error instanceof errors.JWKSNoMatchingKey) return "no key of the issuer's key set signed this token";
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the token signature does not verify';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'the token is signed with an algorithm berth does not accept (an asymmetric one is needed)';
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return 'the bearer token is not a well-formed JWT';
  if (error instanceof errors.JOSEError) return `the token could not be verified: ${(error as Error).message}`;
  return `the token could not be verified: ${(error as Error).message}`;
}
