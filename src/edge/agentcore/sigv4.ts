import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { BerthError } from '../../core/errors.ts';

/**
 * AWS Signature Version 4, as AgentCore's API takes it (both planes sign as service `bedrock-agentcore`, any
 * region): the request is rebuilt into its canonical form and signed again with the secret of the access key it
 * names. The canonical path is escaped a second time, as AWS does for every service but S3.
 */

export const SIGNING_SERVICE = 'bedrock-agentcore';
const ALGORITHM = 'AWS4-HMAC-SHA256';
/** How far a request's date may be from berth's clock, as AWS allows. */
const MAX_SKEW_MS = 15 * 60 * 1000;
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

export interface SignedRequest {
  method: string;
  /** The path as it came on the wire, still percent-encoded. */
  path: string;
  /** The query string as it came, without `?`. */
  query: string;
  headers: { get(name: string): string | null };
  /** Hex SHA-256 of the body, or UNSIGNED_PAYLOAD; by default the `x-amz-content-sha256` header. */
  payloadHash?: string;
}

export interface Verified {
  accessKeyId: string;
  region: string;
}

/** Hex SHA-256 of an empty body: what a signer that sends no body and no X-Amz-Content-SHA256 signed. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** The longest a presigned URL may stay valid, as AgentCore allows for its WebSocket URLs. */
export const MAX_PRESIGN_SECONDS = 300;

/** Checks the request's signature against `secrets` (access key id → secret key); throws AccessDenied-mapped errors. */
export function verifySigV4(request: SignedRequest, secrets: ReadonlyMap<string, string>, now = Date.now()): Verified {
  const authorization = request.headers.get('authorization');
  if (authorization === null)
    throw denied(
      'the request is not signed: sign it with AWS Signature Version 4 (the AWS SDK does) or run berth with BERTH_AWS_AUTH=off for local development',
    );
  const parsed = parseAuthorization(authorization);
  const amzDate = request.headers.get('x-amz-date');
  if (amzDate === null || !/^\d{8}T\d{6}Z$/.test(amzDate)) throw denied('the request has no valid X-Amz-Date header');
  const signedAt = checkDate(amzDate, parsed.credential);
  if (Math.abs(now - signedAt) > MAX_SKEW_MS) {
    throw denied(`the signature is stale: signed at ${amzDate}, and berth's clock is ${new Date(now).toISOString()} (15 minutes either way are allowed)`);
  }
  const payloadHash = request.payloadHash ?? request.headers.get('x-amz-content-sha256');
  if (payloadHash === null) throw denied('the request has no X-Amz-Content-SHA256 header');
  return checkSignature(request, parsed, amzDate, payloadHash, secrets);
}

/**
 * Checks a presigned URL's signature, carried in its query (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`,
 * `X-Amz-Expires`, `X-Amz-SignedHeaders`, `X-Amz-Signature`): valid from its date for its `X-Amz-Expires` seconds,
 * at most MAX_PRESIGN_SECONDS. The request has no body, so the empty body's hash is what was signed.
 */
export function verifyPresignedSigV4(request: SignedRequest, secrets: ReadonlyMap<string, string>, now = Date.now()): Verified {
  const query = new URLSearchParams(request.query);
  const field = (name: string): string => {
    const value = query.get(name);
    if (value === null) throw denied(`the presigned URL lacks ${name}`);
    return value;
  };
  if (field('X-Amz-Algorithm') !== ALGORITHM) throw denied(`the presigned URL's X-Amz-Algorithm is not ${ALGORITHM}`);
  const credential = field('X-Amz-Credential');
  const amzDate = field('X-Amz-Date');
  if (!/^\d{8}T\d{6}Z$/.test(amzDate)) throw denied('the presigned URL has no valid X-Amz-Date');
  const expires = field('X-Amz-Expires');
  if (!/^\d{1,6}$/.test(expires) || Number(expires) < 1 || Number(expires) > MAX_PRESIGN_SECONDS) {
    throw denied(`a presigned URL's X-Amz-Expires must be 1 to ${MAX_PRESIGN_SECONDS} seconds, not "${expires.slice(0, 20)}"`);
  }
  const signature = field('X-Amz-Signature');
  if (!/^[0-9a-f]{64}$/.test(signature)) throw denied("the presigned URL's X-Amz-Signature is not a signature");
  const signedAt = checkDate(amzDate, credential);
  if (now < signedAt - MAX_SKEW_MS) throw denied(`the presigned URL is dated ${amzDate}, in the future by berth's clock`);
  if (now > signedAt + Number(expires) * 1000) throw denied(`the presigned URL expired: signed at ${amzDate}, valid for ${expires} s`);
  const parsed = { credential, signedHeaders: field('X-Amz-SignedHeaders').split(';'), signature };
  return checkSignature(request, parsed, amzDate, request.payloadHash ?? EMPTY_SHA256, secrets);
}

/** The signing time of `amzDate`, once it is checked to fall on the day `credential`'s scope names. */
function checkDate(amzDate: string, credential: string): number {
  const date = credential.split('/')[1];
  if (date === undefined || !amzDate.startsWith(date)) throw denied('the date of the Credential scope is not the date of X-Amz-Date');
  const signedAt = Date.parse(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  if (!Number.isFinite(signedAt)) throw denied(`X-Amz-Date "${amzDate}" is not a time`);
  return signedAt;
}

interface Signature {
  credential: string;
  signedHeaders: string[];
  signature: string;
}

/** Signs the request's canonical form again with the secret its credential names, and compares. */
function checkSignature(request: SignedRequest, parsed: Signature, amzDate: string, payloadHash: string, secrets: ReadonlyMap<string, string>): Verified {
  const [keyId, date, region, service, terminator] = parsed.credential.split('/');
  if (!keyId || !date || !region || service === undefined || terminator !== 'aws4_request')
    throw denied('the Credential of the Authorization header is malformed');
  if (service !== SIGNING_SERVICE) throw denied(`the request is signed for service "${service}"; AgentCore's API signs as "${SIGNING_SERVICE}"`);
  const secret = secrets.get(keyId);
  if (secret === undefined) throw denied(`the access key ${keyId} is not one this berth knows`);
  if (!parsed.signedHeaders.includes('host')) throw denied('the signature must cover the Host header');
  const canonical = [
    request.method,
    canonicalPath(request.path),
    canonicalQuery(request.query),
    ...parsed.signedHeaders.map((name) => `${name}:${canonicalHeaderValue(request.headers.get(name))}`),
    '',
    parsed.signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = [ALGORITHM, amzDate, scope, sha256Hex(canonical)].join('\n');
  let key = hmac(`AWS4${secret}`, date);
  key = hmac(key, region);
  key = hmac(key, service);
  key = hmac(key, 'aws4_request');
  const expected = createHmac('sha256', key).update(toSign).digest();
  const given = Buffer.from(parsed.signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw denied('the request signature does not match: check the secret access key, and that nothing changed the request after it was signed');
  }
  return { accessKeyId: keyId, region };
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function parseAuthorization(value: string): { credential: string; signedHeaders: string[]; signature: string } {
  if (!value.startsWith(`${ALGORITHM} `)) throw denied(`the Authorization header is not ${ALGORITHM}`);
  const fields = new Map<string, string>();
  for (const part of value.slice(ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credential || !signedHeaders || !signature || !/^[0-9a-f]{64}$/.test(signature))
    throw denied('the Authorization header lacks Credential, SignedHeaders or Signature');
  return { credential, signedHeaders: signedHeaders.split(';'), signature };
}

/** The path with dot segments resolved and every byte outside the unreserved set escaped, `/` kept. */
function canonicalPath(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const joined = `/${segments.join('/')}${segments.length > 0 && path.endsWith('/') ? '/' : ''}`;
  return joined.split('/').map(escape).join('/');
}

function canonicalQuery(query: string): string {
  if (query === '') return '';
  const pairs: Array<[string, string]> = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = decode(eq === -1 ? part : part.slice(0, eq));
    if (key === 'X-Amz-Signature') continue;
    pairs.push([escape(key), escape(decode(eq === -1 ? '' : part.slice(eq + 1)))]);
  }
  pairs.sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([key, value]) => `${key}=${value}`).join('&');
}

function canonicalHeaderValue(value: string | null): string {
  return (value ?? '').trim().replace(/\s+/g, ' ');
}

/** RFC 3986 escaping: everything but `A–Z a–z 0–9 - . _ ~`. */
function escape(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function denied(message: string): BerthError {
  return new BerthError('forbidden', message);
}
