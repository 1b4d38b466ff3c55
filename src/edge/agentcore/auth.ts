import type { RequestHeaders } from '../../core/inbound.ts';
import { createHash } from 'node:crypto';
import { clientSignal, withClientSignal } from '../../core/client-signal.ts';
import { BerthError } from '../../core/errors.ts';
import { readBody } from '../../core/http.ts';
import { EMPTY_SHA256, sha256Hex, UNSIGNED_PAYLOAD, verifyPresignedSigV4, verifySigV4, type SignedRequest } from './sigv4.ts';

/** How AgentCore's API authenticates callers: SigV4 against these keys, or (local development only) not at all. */
export interface AwsAuth {
  mode: 'sigv4' | 'off';
  /** Access key id → secret access key. */
  secrets: ReadonlyMap<string, string>;
}

/** True when the request carries a SigV4 signature: it comes from an AWS SDK, and speaks AgentCore's API. */
export function isAwsSigned(request: { readonly headers: RequestHeaders }): boolean {
  return request.headers.get('authorization')?.startsWith('AWS4-HMAC-SHA256 ') === true;
}

/** True when the URL is presigned: its signature is in its query (AgentCore's WebSocket URLs for browsers). */
export function isPresigned(url: URL): boolean {
  return url.searchParams.has('X-Amz-Signature');
}

/**
 * Checks the signature of a request without a body (a WebSocket handshake): in its headers, or in its query when
 * the URL is presigned (valid for at most 300 s). AgentCore's WebSocket clients sign the host without a port, as
 * AWS's endpoints have none; a signature that fails over the Host berth was reached at is checked once more over
 * that host without its port.
 */
export function verifyWithoutBody(request: Request, url: URL, auth: AwsAuth): void {
  if (auth.mode === 'off') return;
  const presigned = isPresigned(url);
  const check = (headers: SignedRequest['headers']): void => {
    const signed: SignedRequest = { method: request.method, path: url.pathname, query: url.search.slice(1), headers };
    if (presigned) verifyPresignedSigV4(signed, auth.secrets);
    else verifySigV4({ ...signed, payloadHash: headers.get('x-amz-content-sha256') ?? EMPTY_SHA256 }, auth.secrets);
  };
  try {
    check(request.headers);
  } catch (error) {
    const host = request.headers.get('host');
    const bare = host?.replace(/:\d{1,5}$/, '');
    if (bare === undefined || bare === host) throw error;
    check({ get: (name) => (name.toLowerCase() === 'host' ? bare : request.headers.get(name)) });
  }
}

/**
 * A request to a runtime that takes only SigV4 (on any route of it): signed with berth's AWS keys, or refused. The
 * request handed back carries its body checked as it streams.
 */
export function signedOnly(request: Request, url: URL, auth: AwsAuth, runtime: string): Request {
  if (!isAwsSigned(request) && auth.mode !== 'off') {
    throw new BerthError(
      'unauthorized',
      `runtime "${runtime}" takes only requests signed with berth's AWS keys (AgentCore's IAM auth, as its API made it): call it through the AWS SDK, or deploy it with an authorizer (apiKey or jwt)`,
    );
  }
  return streamVerified(request, url, auth);
}

/**
 * A small body's request with its signature checked over the whole body, which is read here: a signer that sends
 * no X-Amz-Content-SHA256 (botocore's plain SigV4) is checked against the body's own hash. The request handed back
 * carries the body read.
 */
export async function bufferedVerified(request: Request, url: URL, auth: AwsAuth, limit: number): Promise<Request> {
  const body = await readVerified(request, url, auth, limit);
  return withClientSignal(new Request(request, { body } as RequestInit), clientSignal(request));
}

/** Reads a (small) body whole and checks the request's signature over it. */
export async function readVerified(request: Request, url: URL, auth: AwsAuth, limit: number): Promise<Uint8Array> {
  // An unsigned request is refused before its body is read.
  if (auth.mode !== 'off' && !isAwsSigned(request))
    verifySigV4({ method: request.method, path: url.pathname, query: url.search.slice(1), headers: request.headers }, auth.secrets);
  const body = await readBody(request, limit);
  if (auth.mode === 'off') return body;
  const computed = sha256Hex(body);
  const declared = request.headers.get('x-amz-content-sha256');
  if (declared !== null && declared !== UNSIGNED_PAYLOAD && declared !== computed) {
    throw new BerthError('forbidden', 'the body does not match its X-Amz-Content-SHA256: it changed after it was signed');
  }
  verifySigV4(
    { method: request.method, path: url.pathname, query: url.search.slice(1), headers: request.headers, payloadHash: declared ?? computed },
    auth.secrets,
  );
  return body;
}

/**
 * Checks the signature over the headers at once, and the body as it streams on: the request handed back carries
 * the body with its last chunk held until the whole has been hashed, so a body that does not match its signed
 * hash never reaches a sandbox complete.
 */
export function streamVerified(request: Request, url: URL, auth: AwsAuth): Request {
  if (auth.mode === 'off') return request;
  verifySigV4({ method: request.method, path: url.pathname, query: url.search.slice(1), headers: request.headers }, auth.secrets);
  // A streamed body can only be checked against a hash declared up front (verifySigV4 requires it too).
  const declared = request.headers.get('x-amz-content-sha256');
  if (declared === null) throw new BerthError('forbidden', 'a streamed request must carry X-Amz-Content-SHA256 (the AWS SDK sends it)');
  if (declared === UNSIGNED_PAYLOAD || !request.body) return request;
  const hash = createHash('sha256');
  let held: Uint8Array | undefined;
  const checked = request.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        hash.update(chunk);
        if (held) controller.enqueue(held);
        held = chunk;
      },
      flush(controller) {
        if (hash.digest('hex') !== declared) {
          controller.error(new BerthError('forbidden', 'the body does not match its X-Amz-Content-SHA256: it changed after it was signed'));
          return;
        }
        if (held) controller.enqueue(held);
      },
    }),
  );
  return withClientSignal(new Request(request, { body: checked, duplex: 'half' } as RequestInit), clientSignal(request));
}
