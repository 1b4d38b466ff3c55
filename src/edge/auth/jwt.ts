import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import type { Authorizer, ClaimRule } from '../../store/store.ts';
import type { Issuer } from './issuer.ts';

type JwtAuthorizer = Extract<Authorizer, { type: 'jwt' }>;

/** Seconds of clock difference tolerated between berth and the issuer on `exp`, `nbf` and `iat`. */
const CLOCK_SKEW_SECONDS = 60;
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

/**
 * Verifies bearer tokens for one `jwt` authorizer against its issuer. A token is judged by its form and its `iss`
 * before the issuer's keys are asked for, so a token that is not a well-formed JWS with an accepted algorithm and a
 * plausible signature, or that names another issuer, makes berth fetch nothing.
 */
export class JwtVerifier {
  readonly #config: JwtAuthorizer;
  readonly #issuer: Issuer;

  constructor(config: JwtAuthorizer, issuer: Issuer) {
    this.#config = config;
    this.#issuer = issuer;
  }

  /** The issuer's identifier; throws IssuerUnavailable when its discovery document cannot be had. */
  issuer(): Promise<string> {
    return this.#issuer.identifier();
  }

  /** The token's claims, once it passes every check; throws TokenRefused saying which failed, or IssuerUnavailable. */
  async verify(token: string): Promise<JWTPayload> {
    const { kid, iss } = inspect(token);
    const issuer = await this.#issuer.identifier();
    if (iss !== issuer) throw new TokenRefused("the token is from another issuer than this runtime's");
    const keys = await this.#issuer.keysFor(kid);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys.resolve, {
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
      throw new TokenRefused(
        client === undefined
          ? 'the token names no client (client_id or azp), and this runtime allows only some'
          : `client "${client}" is not one this runtime allows`,
      );
    }
    const scopes = scopesOf(payload);
    const missing = (this.#config.requiredScopes ?? []).filter((scope) => !scopes.includes(scope));
    if (missing.length > 0)
      throw new TokenRefused(`the token lacks the scope${missing.length > 1 ? 's' : ''} ${missing.join(' ')} this runtime requires`, 'insufficient_scope');
    const allowed = this.#config.allowedScopes;
    if (allowed && !allowed.some((scope) => scopes.includes(scope)))
      throw new TokenRefused(`the token holds none of the scopes this runtime allows (${allowed.join(' ')})`, 'insufficient_scope');
    for (const rule of this.#config.requiredClaims ?? []) {
      if (!meets(payload[rule.claim], rule))
        throw new TokenRefused(`the token's claim "${rule.claim}" does not meet this runtime's rule (${rule.operator} ${JSON.stringify(rule.value)})`);
    }
    return payload;
  }
}

/**
 * What a token says of itself, once it has the form of one an issuer signed: three base64url parts, a header with an
 * accepted algorithm (and a string `kid`, if any), a claims object naming its issuer, and a signature of a length
 * that algorithm makes. Nothing here is trusted yet; it decides only whether the issuer's keys are worth asking for.
 */
function inspect(token: string): { kid: string | undefined; iss: string } {
  const parts = token.split('.');
  let header: ReturnType<typeof decodeProtectedHeader>;
  let claims: JWTPayload;
  try {
    if (parts.length !== 3 || !parts.every((part) => BASE64URL.test(part))) throw new Error('not three base64url parts');
    header = decodeProtectedHeader(token);
    claims = decodeJwt(token);
  } catch {
    throw new TokenRefused('the bearer token is not a well-formed JWT');
  }
  if (typeof header.alg !== 'string' || !ALGORITHMS.includes(header.alg)) throw new TokenRefused(ALGORITHM_REFUSED);
  if (header.kid !== undefined && typeof header.kid !== 'string') throw new TokenRefused('the bearer token is not a well-formed JWT (its kid is not a string)');
  if (!signatureFits(header.alg, Buffer.from(parts[2] as string, 'base64url').length)) throw new TokenRefused('the token signature does not verify');
  if (typeof claims.iss !== 'string') throw new TokenRefused('the token names no issuer (iss)');
  return { kid: header.kid, iss: claims.iss };
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const ALGORITHM_REFUSED = 'the token is signed with an algorithm berth does not accept (an asymmetric one is needed)';

/** Whether `bytes` is a signature length `alg` makes: fixed for ECDSA and EdDSA, the key's modulus (2048 to 16384 bits) for RSA. */
function signatureFits(alg: string, bytes: number): boolean {
  switch (alg) {
    case 'ES256':
      return bytes === 64;
    case 'ES384':
      return bytes === 96;
    case 'ES512':
      return bytes === 132;
    case 'EdDSA':
      return bytes === 64 || bytes === 114;
    default:
      return bytes >= 256 && bytes <= 2048;
  }
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
  if (error instanceof errors.JOSEAlgNotAllowed) return ALGORITHM_REFUSED;
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return 'the bearer token is not a well-formed JWT';
  if (error instanceof errors.JOSEError) return `the token could not be verified: ${(error as Error).message}`;
  return `the token could not be verified: ${(error as Error).message}`;
}
