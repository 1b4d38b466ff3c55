/**
 * API keys on a real node: the control plane (`/v1`) opens to an admin key or berth's SigV4 keys and to nothing a
 * runtime's data plane takes; a runtime with an `apiKey` authorizer serves its own keys, each as its user, whose
 * sessions no other key can use; a revoked key stops at once; a SigV4 caller meets AgentCore's "Authorization
 * method mismatch", and a forged SigV4 header on berth's own routes gets no further than no credential at all.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AccessDeniedException, BedrockAgentCoreClient, InvokeAgentRuntimeCommand } from '@aws-sdk/client-bedrock-agentcore';
import { SignatureV4 } from '@smithy/signature-v4';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { rawCall, toolText } from '../helpers/mcp.ts';
import { AWS_ENV, AWS_KEYS, Sha256 } from '../helpers/aws.ts';
import { TestIssuer } from '../helpers/oidc-issuer.ts';

const SESSION_HEADER = 'x-amzn-bedrock-agentcore-runtime-session-id';
const MCP_META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };

describe('API keys', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  let issuer: TestIssuer;

  before(async () => {
    issuer = await TestIssuer.start();
    node = await startBerth({ env: AWS_ENV });
    await deploy(node, 'keyed', await fixtureDir('counter-server'), { transport: 'stdio', authorizer: { type: 'apiKey' } });
    await deploy(node, 'other', await fixtureDir('counter-server'), { transport: 'stdio', authorizer: { type: 'apiKey' } });
  });
  after(async () => {
    await node?.stop();
    issuer?.close();
  });

  const makeKey = async (body: Record<string, unknown>): Promise<{ id: string; key: string; user?: string }> => {
    const response = await node.admin('/v1/keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(response.status, 201, await response.clone().text());
    return (await response.json()) as { id: string; key: string; user?: string };
  };
  const call = (runtime: string, key: string | undefined, sessionId?: string) =>
    rawCall(node.url, runtime, 'tools/call', 'increment', {}, { ...(sessionId ? { sessionId } : {}), headers: key ? { authorization: `Bearer ${key}` } : {} });
  const v1 = (authorization?: string) => fetch(`${node.url}/v1/runtimes`, authorization === undefined ? {} : { headers: { authorization } });

  test('the control plane refuses everything but an admin credential', async () => {
    const none = await v1();
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer realm="berth"/);
    assert.match(((await none.json()) as { error: { message: string } }).error.message, /needs an admin key/);
    assert.equal((await v1('Bearer berth_aaaaaaaaaaaaaaaa_' + 'A'.repeat(43))).status, 401, 'a made-up key');
    assert.equal((await v1('Bearer not-a-key')).status, 401);
    const runtimeKey = await makeKey({ runtime: 'keyed', user: 'carol' });
    const asRuntimeKey = await v1(`Bearer ${runtimeKey.key}`);
    assert.equal(asRuntimeKey.status, 403, "a runtime's key is a data-plane credential");
    assert.match(((await asRuntimeKey.json()) as { error: { message: string } }).error.message, /opens runtime "keyed"'s sessions, not berth's control API/);
    assert.equal((await v1(`Bearer ${await issuer.token({})}`)).status, 401, "a runtime's OIDC token is a data-plane credential");
    assert.equal(
      (await v1('AWS4-HMAC-SHA256 Credential=AKIDBERTHTEST0001/20260101/us-west-2/bedrock-agentcore/aws4_request, SignedHeaders=host, Signature=00')).status,
      403,
      'a forged signature',
    );
    for (const [method, path] of [
      ['POST', '/v1/keys'],
      ['GET', '/v1/keys'],
      ['DELETE', `/v1/keys/${runtimeKey.id}`],
      ['GET', '/v1/sessions'],
      ['POST', '/v1/artifacts'],
    ] as const) {
      assert.equal((await fetch(`${node.url}${path}`, { method })).status, 401, `${method} ${path}`);
    }

    const admin = await makeKey({ admin: true, description: 'second admin' });
    assert.equal((await v1(`Bearer ${admin.key}`)).status, 200);
    assert.equal((await node.admin(`/v1/keys/${admin.id}`, { method: 'DELETE' })).status, 200);
    assert.equal((await v1(`Bearer ${admin.key}`)).status, 401, 'a revoked admin key');

    // berth's AWS keys are the other admin credential: a /v1 call signed with them passes.
    const signer = new SignatureV4({ credentials: AWS_KEYS, region: 'us-west-2', service: 'bedrock-agentcore', sha256: Sha256 });
    const url = new URL(`${node.url}/v1/runtimes`);
    const signed = await signer.sign({
      method: 'GET',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    });
    const bySigV4 = await fetch(url, { headers: signed.headers as Record<string, string> });
    assert.equal(bySigV4.status, 200);
    assert.deepEqual(((await bySigV4.json()) as { runtimes: Array<{ name: string }> }).runtimes.map((r) => r.name).sort(), ['keyed', 'other']);
  });

  test("a runtime's keys: each is its user, sessions stay their user's, revocation is immediate", async () => {
    const refused = await call('keyed', undefined);
    assert.equal(refused.status, 401);
    assert.match(refused.response.error?.message ?? '', /needs one of its API keys.*berth keys create --runtime keyed --user USER/);
    assert.equal(refused.headers.get('www-authenticate'), 'Bearer realm="berth"');

    const alice = await makeKey({ runtime: 'keyed', user: 'alice' });
    const aliceAgain = await makeKey({ runtime: 'keyed', user: 'alice', description: 'her second device' });
    const bob = await makeKey({ runtime: 'keyed', user: 'bob' });
    const unnamed = await makeKey({ runtime: 'keyed' });
    assert.equal(unnamed.user, unnamed.id, 'a key made for no user stands for itself');
    const otherRuntime = await makeKey({ runtime: 'other', user: 'alice' });

    const first = await call('keyed', alice.key);
    assert.equal(first.status, 200);
    assert.deepEqual(toolText(first), { count: 1 });
    const sessionId = first.headers.get(SESSION_HEADER) as string;
    const info = (await node.admin(`/v1/sessions/${sessionId}`).then((r) => r.json())) as { principal: string };
    assert.equal(info.principal, 'alice');
    assert.deepEqual(toolText(await call('keyed', aliceAgain.key, sessionId)), { count: 2 }, "alice's other key is alice");

    const asBob = await call('keyed', bob.key, sessionId);
    assert.equal(asBob.status, 404, "bob cannot use alice's session");
    assert.match(asBob.response.error?.message ?? '', /does not exist or has ended/);
    for (const [what, key, why] of [
      ["another runtime's key", otherRuntime.key, /the API key is for runtime "other"/],
      ['an admin key', node.adminKey, /an admin key opens berth's control plane, not a runtime's sessions/],
      ['a made-up key', `berth_${alice.id}_${'B'.repeat(43)}`, /unknown or was revoked/],
    ] as const) {
      const answer = await call('keyed', key, sessionId);
      assert.equal(answer.status, 401, what);
      assert.match(answer.response.error?.message ?? '', why, what);
      assert.match(answer.headers.get('www-authenticate') ?? '', /error="invalid_token"/, what);
    }

    const listed = (await node.admin('/v1/keys?runtime=keyed').then((r) => r.json())) as { keys: Array<Record<string, unknown>> };
    assert.ok(listed.keys.some((k) => k.id === alice.id && k.user === 'alice' && k.runtime === 'keyed'));
    assert.ok(
      listed.keys.every((k) => k.key === undefined && k.hash === undefined),
      'a list shows neither keys nor hashes',
    );
    assert.ok(!JSON.stringify(listed).includes(alice.key.slice(-43)));

    assert.equal((await node.admin(`/v1/keys/${alice.id}`, { method: 'DELETE' })).status, 200);
    const afterRevoke = await call('keyed', alice.key, sessionId);
    assert.equal(afterRevoke.status, 401);
    assert.match(afterRevoke.response.error?.message ?? '', /unknown or was revoked/);
    assert.deepEqual(toolText(await call('keyed', aliceAgain.key, sessionId)), { count: 3 }, "alice's other key still opens her session");
    assert.equal(
      ((await node.admin(`/v1/keys/${alice.id}`, { method: 'DELETE' }).then((r) => r.json())) as { revokedAt?: string }).revokedAt !== undefined,
      true,
    );
    assert.equal((await node.admin('/v1/keys/nosuchkey', { method: 'DELETE' })).status, 404);
  });

  test('bad key requests say what to fix', async () => {
    const post = (body: unknown) => node.admin('/v1/keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const cases: Array<[unknown, number, RegExp]> = [
      [{}, 400, /give either "runtime" \(a key to that runtime\) or "admin": true/],
      [{ admin: true, runtime: 'keyed' }, 400, /give either/],
      [{ admin: true, user: 'x' }, 400, /an admin key stands for no user/],
      [{ runtime: 'nope' }, 404, /no runtime "nope": deploy it before making keys for it/],
      [{ runtime: 'keyed', user: 'has space' }, 400, /user: a user id is 1 to 128 visible ASCII characters/],
      [{ runtime: 'keyed', extra: 1 }, 400, /Unrecognized key/],
    ];
    for (const [body, status, why] of cases) {
      const response = await post(body);
      assert.equal(response.status, status, JSON.stringify(body));
      assert.match(((await response.json()) as { error: { message: string } }).error.message, why, JSON.stringify(body));
    }
  });

  test('deleting a runtime deletes its keys: a new runtime of that name does not open to them', async () => {
    await deploy(node, 'ephemeral', await fixtureDir('counter-server'), { transport: 'stdio', authorizer: { type: 'apiKey' } });
    const key = await makeKey({ runtime: 'ephemeral', user: 'dave' });
    assert.equal((await call('ephemeral', key.key)).status, 200);
    assert.equal((await node.admin('/v1/runtimes/ephemeral', { method: 'DELETE' })).status, 200);
    await deploy(node, 'ephemeral', await fixtureDir('counter-server'), { transport: 'stdio', authorizer: { type: 'apiKey' } });
    assert.equal((await call('ephemeral', key.key)).status, 401);
  });

  test("SigV4 to a key runtime is AgentCore's method mismatch; a bearer key on AgentCore's path is served", async () => {
    const runtime = (await node.admin('/v1/runtimes/keyed').then((r) => r.json())) as { id: string };
    const arn = `arn:aws:bedrock-agentcore:us-west-2:123456789012:runtime/${runtime.id}`;
    const payload = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'increment', arguments: {}, _meta: MCP_META } });
    const client = new BedrockAgentCoreClient({ endpoint: node.url, region: 'us-west-2', credentials: AWS_KEYS });
    try {
      await assert.rejects(
        client.send(
          new InvokeAgentRuntimeCommand({
            agentRuntimeArn: arn,
            runtimeSessionId: randomUUID(),
            payload: new TextEncoder().encode(payload),
            contentType: 'application/json',
            accept: 'application/json, text/event-stream',
            mcpProtocolVersion: '2026-07-28',
            mcpMethod: 'tools/call',
            mcpName: 'increment',
          }),
        ),
        (error: unknown) => error instanceof AccessDeniedException && /Authorization method mismatch/.test(error.message),
      );
    } finally {
      client.destroy();
    }

    // A signer that sends no X-Amz-Content-SHA256 (botocore's plain SigV4) is checked against the body's own hash.
    await deploy(node, 'signed-only', await fixtureDir('counter-server'), { transport: 'stdio' });
    const plain = (await node.admin('/v1/runtimes/signed-only').then((r) => r.json())) as { id: string };
    const stopUrl = new URL(
      `${node.url}/runtimes/${encodeURIComponent(`arn:aws:bedrock-agentcore:us-west-2:123456789012:runtime/${plain.id}`)}/stopruntimesession`,
    );
    const signer = new SignatureV4({ credentials: AWS_KEYS, region: 'us-west-2', service: 'bedrock-agentcore', sha256: Sha256, applyChecksum: false });
    const stopBody = '{}';
    const signedStop = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: stopUrl.hostname,
      port: Number(stopUrl.port),
      path: stopUrl.pathname,
      headers: { host: stopUrl.host, 'content-type': 'application/json', [SESSION_HEADER]: randomUUID() },
      body: stopBody,
    });
    assert.equal(signedStop.headers['x-amz-content-sha256'], undefined);
    const stop = await fetch(stopUrl, { method: 'POST', headers: signedStop.headers as Record<string, string>, body: stopBody });
    assert.equal(
      stop.headers.get('x-amzn-errortype')?.split(':')[0],
      'ResourceNotFoundException',
      await stop
        .clone()
        .text()
        .then((t) => t),
    );

    // AgentCore's OAuth callers use the same URL with a bearer credential instead of a signature.
    const erin = await makeKey({ runtime: 'keyed', user: 'erin' });
    const sessionId = randomUUID();
    const invoke = (authorization: string) =>
      fetch(`${node.url}/runtimes/${encodeURIComponent(arn)}/invocations`, {
        method: 'POST',
        headers: {
          authorization,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2026-07-28',
          'mcp-method': 'tools/call',
          'mcp-name': 'increment',
          [SESSION_HEADER]: sessionId,
        },
        body: payload,
      });
    const served = await invoke(`Bearer ${erin.key}`);
    assert.equal(served.status, 200, await served.clone().text());
    assert.match(await served.text(), /\\"count\\":1/);
    assert.equal(((await node.admin(`/v1/sessions/${sessionId}`).then((r) => r.json())) as { principal: string }).principal, 'erin');
    const unauthorized = await invoke('Bearer nope');
    assert.equal(unauthorized.status, 401);
    assert.equal(unauthorized.headers.get('x-amzn-errortype')?.split(':')[0], 'UnauthorizedException');
  });

  test("rate limits: past its own, a caller gets 429 with Retry-After while others go on; past the runtime's, everyone does", async () => {
    // Slow refill, so the test's own pace cannot refill a bucket: only the bursts count.
    await deploy(node, 'metered', await fixtureDir('counter-server'), {
      transport: 'stdio',
      authorizer: { type: 'apiKey' },
      rateLimits: { principal: { perSecond: 0.01, burst: 2 }, runtime: { perSecond: 0.01, burst: 3 } },
    });
    const [frank, grace, heidi] = await Promise.all(['frank', 'grace', 'heidi'].map((user) => makeKey({ runtime: 'metered', user })));
    const session = randomUUID();
    assert.equal((await call('metered', frank?.key, session)).status, 200);
    assert.equal((await call('metered', frank?.key, session)).status, 200);
    const limited = await call('metered', frank?.key, session);
    assert.equal(limited.status, 429);
    assert.equal(limited.response.error?.data?.code, 'rate_limited');
    assert.match(limited.response.error?.message ?? '', /at most 0.01 requests a second from each caller; retry after \d+ s/);
    assert.match(limited.headers.get('retry-after') ?? '', /^\d+$/);
    assert.equal((await call('metered', grace?.key)).status, 200, 'another caller goes on');
    const everyone = await call('metered', heidi?.key);
    assert.equal(everyone.status, 429, "the runtime's own limit is spent");
    assert.match(everyone.response.error?.message ?? '', /runtime "metered" takes at most 0.01 requests a second;/);
    const bad = await node.admin('/v1/runtimes/metered', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ artifactId: 'art_x', command: 'x', rateLimits: { principal: { perSecond: 0 } } }),
    });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /rateLimits\.principal\.perSecond: /);
  });

  test("a forged SigV4 header on berth's own routes is no credential", async () => {
    const forged = 'AWS4-HMAC-SHA256 Credential=AKIDBERTHTEST0001/20260101/us-west-2/bedrock-agentcore/aws4_request, SignedHeaders=host, Signature=00';
    const answer = await rawCall(node.url, 'keyed', 'tools/call', 'increment', {}, { headers: { authorization: forged } });
    assert.equal(answer.status, 401);
    assert.match(answer.response.error?.message ?? '', /needs one of its API keys/);
    const commands = await fetch(`${node.url}/runtimes/keyed/sessions/${randomUUID()}/commands`, {
      method: 'POST',
      headers: { authorization: forged, 'content-type': 'application/json' },
      body: JSON.stringify({ command: 'id' }),
    });
    assert.equal(commands.status, 401);
  });
});

/** An address of this machine beyond loopback, if it has one. */
const outward = Object.values(networkInterfaces())
  .flat()
  .find((address) => address?.family === 'IPv4' && !address.internal)?.address;

describe(
  'a runtime open to anyone, on a berth that listens beyond loopback',
  { skip: BwrapDriver.unsupportedReason() ?? (outward === undefined ? 'no address beyond loopback' : false) },
  () => {
    test('is warned about loudly, at deploy and at every start', async () => {
      const home = mkdtempSync(join(tmpdir(), 'berth-open-'));
      let node = await startBerth({ home, env: { BERTH_HOST: outward as string } });
      try {
        await deploy(node, 'wide-open', await fixtureDir('counter-server'), { transport: 'stdio' });
        await deploy(node, 'locked', await fixtureDir('counter-server'), { transport: 'stdio', authorizer: { type: 'apiKey' } });
        const warning = new RegExp(
          `runtime "wide-open" has no authorizer and berth listens on ${outward?.replaceAll('.', '\\.')}, beyond loopback: anyone who reaches the port can open sessions of it`,
        );
        assert.match(node.logs(), warning);
        assert.doesNotMatch(node.logs(), /runtime "locked" has no authorizer/);
        await node.stop();
        node = await startBerth({ home, env: { BERTH_HOST: outward as string } });
        assert.match(node.logs(), warning, 'said again at the next start');
      } finally {
        await node.stop();
        rmSync(home, { recursive: true, force: true });
      }
    });
  },
);
