import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inboundOf } from '../../core/inbound.ts';
import type { ResolvedRuntime, RuntimeService } from '../../control/runtimes.ts';
import type { RuntimeSpec } from '../../store/store.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import { ANONYMOUS, type Principal } from '../auth/principal.ts';
import { RateLimiter } from '../rate-limit.ts';
import { CallerAdmission } from './admission.ts';

const ALICE: Principal = { key: 'apikey:alice', userId: 'alice' };

/** A runtime service that knows one runtime, `r`, of this spec; and an authenticator that admits everyone as Alice. */
function admission(
  spec: Partial<RuntimeSpec> | undefined,
  seen: { authenticated: number } = { authenticated: 0 },
  awsMode: 'sigv4' | 'off' = 'sigv4',
): CallerAdmission {
  const resolved = { runtime: { id: 'r-0123456789', name: 'r' }, version: { runtime: 'r', version: 3, spec }, target: {} } as unknown as ResolvedRuntime;
  // SAFETY: admission reaches the runtime service only through these members.
  const runtimes = {
    // Nothing kept yet: admission asks.
    resolved: () => undefined,
    find: async (name: string) => (name === 'r' && spec ? resolved : undefined),
    resolve: async (name: string) => {
      if (name !== 'r' || !spec) throw Object.assign(new Error('no such runtime'), { code: 'runtime_not_found' });
      return resolved;
    },
    getByIdOrName: async () => resolved.runtime,
  } as unknown as RuntimeService;
  const authenticator = {
    authenticate: async () => {
      seen.authenticated++;
      return ALICE;
    },
  } as unknown as Authenticator;
  return new CallerAdmission({
    runtimes,
    authenticator,
    aws: { mode: awsMode, secrets: new Map() },
    identity: { region: 'us-west-2', accountId: '123456789012' },
    limiter: new RateLimiter(),
  });
}

const post = (path: string, headers: Record<string, string> = {}): [Request, URL] => {
  const url = new URL(`http://berth${path}`);
  return [new Request(url, { method: 'POST', headers, body: '{}' }), url];
};

test("berth's door: a runtime without an authorizer is anonymous, and it is looked up once for every step after", async () => {
  const [request, url] = post('/runtimes/r/mcp?endpoint=beta');
  const caller = await admission({}).native(inboundOf(request, url), { name: 'r' });
  assert.equal(caller.door, 'berth');
  assert.equal(caller.principal, ANONYMOUS);
  assert.equal(caller.runtime, 'r');
  assert.equal(caller.endpoint, 'beta');
  assert.equal(caller.resolved?.version.version, 3);
});

test("berth's door: a runtime that does not exist is admitted anonymously, for its handler to say so", async () => {
  const [request, url] = post('/runtimes/nope/mcp');
  const caller = await admission({}).native(inboundOf(request, url), { name: 'nope' });
  assert.equal(caller.resolved, undefined);
  assert.equal(caller.principal, ANONYMOUS);
});

test("berth's door: the runtime's authorizer names the principal", async () => {
  const seen = { authenticated: 0 };
  const [request, url] = post('/runtimes/r/mcp', { authorization: 'Bearer k' });
  const caller = await admission({ authorizer: { type: 'apiKey' } } as Partial<RuntimeSpec>, seen).native(inboundOf(request, url), { name: 'r' });
  assert.equal(caller.principal, ALICE);
  assert.equal(seen.authenticated, 1);
});

test("berth's door: a SigV4 runtime refuses an unsigned request before anything is made", async () => {
  const [request, url] = post('/runtimes/r/mcp');
  await assert.rejects(admission({ agentcore: {} } as Partial<RuntimeSpec>).native(inboundOf(request, url), { name: 'r' }), { code: 'unauthorized' });
});

test('rate limits are taken per principal at admission, and a refusal says when to retry', async () => {
  const admit = admission({ rateLimits: { principal: { perSecond: 1, burst: 2 } } } as Partial<RuntimeSpec>);
  for (let i = 0; i < 2; i++) {
    const [request, url] = post('/runtimes/r/mcp');
    await admit.native(inboundOf(request, url), { name: 'r' });
  }
  const [request, url] = post('/runtimes/r/mcp');
  await assert.rejects(
    admit.native(inboundOf(request, url), { name: 'r' }),
    (error: Error & { code?: string; retryAfter?: number }) => error.code === 'rate_limited' && (error.retryAfter ?? 0) >= 1,
  );
});

test("AgentCore's door: a token runtime refuses a SigV4-signed request with AgentCore's words", async () => {
  // AWS auth off: the signature passes unchecked, and only the method is wrong.
  const [request, url] = post('/runtimes/r/invocations', {
    authorization: 'AWS4-HMAC-SHA256 Credential=AKID/20261202/us-west-2/bedrock-agentcore/aws4_request, SignedHeaders=host, Signature=00',
  });
  const admit = admission({ authorizer: { type: 'apiKey' } } as Partial<RuntimeSpec>, { authenticated: 0 }, 'off');
  await assert.rejects(
    admit.agentcore(request, { name: 'r' }, url, 'streamed'),
    (error: Error & { code?: string }) => error.code === 'forbidden' && /Authorization method mismatch/.test(error.message),
  );
});

test("AgentCore's door: a token runtime's caller is its authorizer's principal, and the door says AgentCore", async () => {
  const [request, url] = post('/runtimes/r/invocations?qualifier=beta', { authorization: 'Bearer k' });
  const caller = await admission({ authorizer: { type: 'apiKey' } } as Partial<RuntimeSpec>).agentcore(request, { name: 'r' }, url, 'streamed');
  assert.equal(caller.door, 'agentcore');
  assert.equal(caller.principal, ALICE);
  assert.equal(caller.endpoint, 'beta');
  assert.deepEqual(caller.params, { name: 'r' });
});

test("AgentCore's door: an unsigned request to a runtime without an authorizer is refused", async () => {
  const [request, url] = post('/runtimes/r/invocations');
  await assert.rejects(admission({}).agentcore(request, { name: 'r' }, url, 'streamed'), { code: 'forbidden' });
});
