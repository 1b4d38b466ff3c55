import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SignatureV4 } from '@smithy/signature-v4';
import { isBerthError } from '../../core/errors.ts';
import { sha256Hex, verifyPresignedSigV4, verifySigV4, type SignedRequest } from './sigv4.ts';
import { Sha256 } from '../../../test/helpers/aws.ts';

const secrets = new Map([['AKIDBERTHTEST', 'secret/key+value']]);
const signer = (secretAccessKey = 'secret/key+value', service = 'bedrock-agentcore') =>
  new SignatureV4({
    service,
    region: 'eu-central-1',
    credentials: { accessKeyId: 'AKIDBERTHTEST', secretAccessKey },
    sha256: Sha256,
    uriEscapePath: true,
    applyChecksum: true,
  });

/** A request as AWS's own signer signs it, turned into what berth's edge sees. */
async function signed(
  options: { path?: string; query?: Record<string, string>; body?: string; secret?: string; service?: string; at?: Date } = {},
): Promise<SignedRequest> {
  const body = options.body ?? '{"prompt":"hi"}';
  const path = options.path ?? '/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-west-2%3A123456789012%3Aruntime%2Fagent-AbCdEf1234/invocations';
  const request = await signer(options.secret, options.service).sign(
    {
      method: 'POST',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 8787,
      path,
      query: options.query ?? { qualifier: 'DEFAULT' },
      headers: {
        host: '127.0.0.1:8787',
        'content-type': 'application/json',
        'x-amz-content-sha256': sha256Hex(body),
        'x-amzn-bedrock-agentcore-runtime-session-id': 'session-with  two   spaces-0000000000000000000',
      },
      body,
    },
    { signingDate: options.at ?? new Date() },
  );
  const query = Object.entries(request.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  return { method: request.method, path: request.path, query, headers: new Headers(request.headers as Record<string, string>) };
}

function denied(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error) => isBerthError(error) && error.code === 'forbidden' && pattern.test(error.message));
}

test("a request AWS's own signer signed verifies: double-escaped ARN path, query, spaces in header values", async () => {
  const request = await signed({ query: { qualifier: 'DEFAULT', accountId: '123456789012', 'odd key': 'a b/c' } });
  assert.deepEqual(verifySigV4(request, secrets), { accessKeyId: 'AKIDBERTHTEST', region: 'eu-central-1' });
  const control = await signed({ path: '/runtimes/', query: {} });
  assert.equal(verifySigV4(control, secrets).accessKeyId, 'AKIDBERTHTEST');
});

test('a wrong secret, an unknown key, another service, a changed request or body are refused', async () => {
  const good = await signed();
  denied(() => verifySigV4({ ...good, headers: new Headers() }, secrets), /not signed/);
  denied(() => verifySigV4(good, new Map([['OTHERKEY', 'x']])), /access key AKIDBERTHTEST is not one this berth knows/);
  const wrongSecret = await signed({ secret: 'wrong' });
  denied(() => verifySigV4(wrongSecret, secrets), /signature does not match/);
  const otherService = await signed({ service: 's3' });
  denied(() => verifySigV4(otherService, secrets), /signed for service "s3"/);
  denied(() => verifySigV4({ ...good, path: good.path.replace('invocations', 'commands') }, secrets), /signature does not match/);
  denied(() => verifySigV4({ ...good, query: 'qualifier=OTHER' }, secrets), /signature does not match/);
  denied(() => verifySigV4({ ...good, payloadHash: sha256Hex('{"prompt":"changed"}') }, secrets), /signature does not match/);
  const headers = new Headers(good.headers as Headers);
  headers.set('x-amzn-bedrock-agentcore-runtime-session-id', 'another-session-0000000000000000000000000');
  denied(() => verifySigV4({ ...good, headers }, secrets), /signature does not match/);
});

test('a signature older or newer than 15 minutes is stale', async () => {
  const old = await signed({ at: new Date(Date.now() - 16 * 60 * 1000) });
  denied(() => verifySigV4(old, secrets), /stale/);
  const fine = await signed({ at: new Date(Date.now() - 14 * 60 * 1000) });
  assert.equal(verifySigV4(fine, secrets).accessKeyId, 'AKIDBERTHTEST');
});

/** A presigned GET, as AWS's own signer presigns a WebSocket URL, turned into what berth's edge sees. */
async function presigned(options: { expires?: number; at?: Date; secret?: string } = {}): Promise<SignedRequest> {
  const request = await signer(options.secret).presign(
    {
      method: 'GET',
      protocol: 'https:',
      hostname: '127.0.0.1',
      path: '/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-west-2%3A123456789012%3Aruntime%2Fagent-AbCdEf1234/ws',
      query: { qualifier: 'DEFAULT', 'X-Amzn-Bedrock-AgentCore-Runtime-Session-Id': 'a-session-000000000000000000000000000' },
      headers: { host: '127.0.0.1' },
    },
    { expiresIn: options.expires ?? 300, signingDate: options.at ?? new Date() },
  );
  const query = Object.entries(request.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  return { method: 'GET', path: request.path, query, headers: new Headers({ host: '127.0.0.1' }) };
}

test('a presigned URL verifies within its expiry, and not after it, nor past 300 s, nor changed', async () => {
  const good = await presigned();
  assert.equal(verifyPresignedSigV4(good, secrets).accessKeyId, 'AKIDBERTHTEST');
  const expired = await presigned({ expires: 60, at: new Date(Date.now() - 61_000) });
  denied(() => verifyPresignedSigV4(expired, secrets), /expired/);
  const tooLong = await presigned({ expires: 301 });
  denied(() => verifyPresignedSigV4(tooLong, secrets), /X-Amz-Expires must be 1 to 300 seconds/);
  const session = good.query.replace('a-session-0000', 'b-session-0000');
  denied(() => verifyPresignedSigV4({ ...good, query: session }, secrets), /signature does not match/);
  denied(() => verifyPresignedSigV4({ ...good, query: good.query.replace(/X-Amz-Signature=[0-9a-f]+/, '') }, secrets), /lacks X-Amz-Signature/);
  const wrongSecret = await presigned({ secret: 'wrong' });
  denied(() => verifyPresignedSigV4(wrongSecret, secrets), /signature does not match/);
});
