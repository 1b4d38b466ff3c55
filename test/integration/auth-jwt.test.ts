/**
 * A runtime behind a `jwt` authorizer, against a real OIDC issuer on loopback: no token or a bad one gets 401 (403
 * for a missing scope) with a WWW-Authenticate that points at the runtime's protected resource metadata, which
 * names the issuer; good tokens pass, a key rotation is picked up, and a session belongs to the principal that
 * made it — another principal using its id is answered as if there were none.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, SESSION_HEADER, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { rawCall, toolText } from '../helpers/mcp.ts';
import { Client, ClientCredentialsProvider, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { TestIssuer } from '../helpers/oidc-issuer.ts';
import { RuntimeClient, ShellChannel } from 'bedrock-agentcore/runtime';

describe('a runtime with a jwt authorizer', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  let issuer: TestIssuer;

  before(async () => {
    issuer = await TestIssuer.start();
    // The test issuer listens on loopback, which berth fetches from only when its operator allows it.
    node = await startBerth({ env: { BERTH_JWKS_COOLDOWN_MS: '0', BERTH_OUTBOUND_ALLOW: '127.0.0.1' } });
    await deploy(node, 'secure', await fixtureDir('counter-server'), {
      transport: 'stdio',
      authorizer: {
        type: 'jwt',
        discoveryUrl: issuer.discoveryUrl,
        allowedAudience: ['berth-test'],
        allowedClients: ['client-a'],
        requiredScopes: ['mcp:call'],
      },
    });
    await deploy(node, 'secure-agent', await fixtureDir('http-agent'), {
      protocol: 'http',
      transport: 'http',
      port: 8080,
      authorizer: { type: 'jwt', discoveryUrl: issuer.discoveryUrl, allowedAudience: ['berth-test'] },
    });
    await deploy(node, 'secure-mrtr', await fixtureDir('conformance-modern'), {
      transport: 'http',
      command: 'node server.js http',
      authorizer: { type: 'jwt', discoveryUrl: issuer.discoveryUrl, allowedAudience: ['berth-test'] },
    });
    // Tokens for this one are for the runtime itself: the audience is the resource its metadata names (RFC 8707).
    await deploy(node, 'oauth', await fixtureDir('counter-server'), {
      transport: 'stdio',
      authorizer: {
        type: 'jwt',
        discoveryUrl: issuer.discoveryUrl,
        allowedAudience: [`${node.url}/runtimes/oauth`],
        allowedClients: ['machine-1'],
        requiredScopes: ['mcp:call'],
      },
    });
  });
  after(async () => {
    await node?.stop();
    issuer?.close();
  });

  const call = (token: string | undefined, sessionId?: string) =>
    rawCall(
      node.url,
      'secure',
      'tools/call',
      'increment',
      {},
      { ...(sessionId ? { sessionId } : {}), headers: token ? { authorization: `Bearer ${token}` } : {} },
    );

  test('without a token: 401, and the challenge leads to the issuer', async () => {
    const answer = await call(undefined);
    assert.equal(answer.status, 401);
    const challenge = answer.headers.get('www-authenticate') ?? '';
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
    assert.equal(metadataUrl, `${node.url}/.well-known/oauth-protected-resource/runtimes/secure`);
    assert.match(challenge, /scope="mcp:call"/);
    const metadata = (await fetch(metadataUrl as string).then((r) => r.json())) as Record<string, unknown>;
    assert.deepEqual(metadata.authorization_servers, [issuer.url]);
    assert.equal(metadata.resource, `${node.url}/runtimes/secure`);
    assert.deepEqual(metadata.scopes_supported, ['mcp:call']);
  });

  test('bad tokens are refused, each saying why', async () => {
    const cases: Array<[string, Promise<string>, number, RegExp]> = [
      ['expired', issuer.token({ expiresIn: Math.floor(Date.now() / 1000) - 3600 }), 401, /has expired/],
      ['not yet valid', issuer.token({ notBefore: Math.floor(Date.now() / 1000) + 3600 }), 401, /not valid yet/],
      ['wrong audience', issuer.token({ aud: 'someone-else' }), 401, /another audience/],
      ['wrong client', issuer.token({ client: 'client-b' }), 401, /client "client-b" is not one this runtime allows/],
      ['wrong issuer', issuer.token({ issuer: 'http://evil.example' }), 401, /another issuer/],
      ['missing scope', issuer.token({ scope: 'profile' }), 403, /lacks the scope mcp:call/],
      ['garbage', Promise.resolve('not.a.jwt'), 401, /not a well-formed JWT/],
    ];
    for (const [what, token, status, why] of cases) {
      const answer = await call(await token);
      assert.equal(answer.status, status, what);
      assert.match(answer.response.error?.message ?? '', why, what);
      const challenge = answer.headers.get('www-authenticate') ?? '';
      assert.match(challenge, status === 403 ? /error="insufficient_scope"/ : /error="invalid_token"/, what);
      assert.match(challenge, /resource_metadata="/, what);
    }
  });

  test('a good token is served, and the session shows whose it is', async () => {
    const answer = await call(await issuer.token({ sub: 'alice' }));
    assert.equal(answer.status, 200);
    assert.deepEqual(toolText(answer), { count: 1 });
    const sessionId = answer.headers.get('x-amzn-bedrock-agentcore-runtime-session-id') as string;
    const info = (await node.admin(`/v1/sessions/${sessionId}`).then((r) => r.json())) as { principal: string };
    assert.equal(info.principal, 'alice');
  });

  test('another principal cannot use a session: every way of naming it answers 404', async () => {
    const alice = await issuer.token({ sub: 'alice' });
    const bob = await issuer.token({ sub: 'bob' });
    const sessionId = randomUUID();
    assert.deepEqual(toolText(await call(alice, sessionId)), { count: 1 });
    const byHeader = await call(bob, sessionId);
    assert.equal(byHeader.status, 404);
    assert.match(byHeader.response.error?.message ?? '', /does not exist or has ended/);
    const byUrl = await fetch(`${node.url}/runtimes/secure/sessions/${sessionId}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${bob}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': 'increment',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: {
          name: 'increment',
          arguments: {},
          _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} },
        },
      }),
    });
    assert.equal(byUrl.status, 404);
    const byCommand = await fetch(`${node.url}/runtimes/secure/sessions/${sessionId}/commands`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bob}`, 'content-type': 'application/json' },
      body: JSON.stringify({ command: 'ls' }),
    });
    assert.equal(byCommand.status, 404);
    assert.deepEqual(toolText(await call(alice, sessionId)), { count: 2 }, "alice's session is untouched");

    // A legacy client's Mcp-Session-Id: alice initializes; bob's POST, GET and DELETE with it are 404.
    const legacy = (token: string, method: string, body?: unknown, mcpSession?: string) =>
      fetch(`${node.url}/runtimes/secure/mcp`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...(mcpSession ? { 'mcp-session-id': mcpSession, 'mcp-protocol-version': '2025-11-25' } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const init = await legacy(alice, 'POST', {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'old', version: '1' } },
    });
    assert.equal(init.status, 200, await init.clone().text());
    const mcpSession = init.headers.get('mcp-session-id') as string;
    const asBob = await legacy(bob, 'POST', { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'increment', arguments: {} } }, mcpSession);
    assert.equal(asBob.status, 404);
    assert.equal((await legacy(bob, 'GET', undefined, mcpSession)).status, 404);
    assert.equal((await legacy(bob, 'DELETE', undefined, mcpSession)).status, 404);
    assert.equal(
      (await legacy(alice, 'POST', { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'increment', arguments: {} } }, mcpSession)).status,
      200,
      "alice's MCP session lives on",
    );

    // A requestState alice was handed does not carry bob into her call.
    const elicit = { elicitation: { form: {} } };
    const asked = await rawCall(
      node.url,
      'secure-mrtr',
      'tools/call',
      'test_input_required_result_request_state',
      {},
      { capabilities: elicit, headers: { authorization: `Bearer ${alice}` } },
    );
    assert.equal(asked.response.result?.resultType, 'input_required');
    const retry = await rawCall(
      node.url,
      'secure-mrtr',
      'tools/call',
      'test_input_required_result_request_state',
      {},
      {
        capabilities: elicit,
        headers: { authorization: `Bearer ${bob}` },
        params: { inputResponses: { confirm: { action: 'accept', content: { ok: true } } }, requestState: asked.response.result?.requestState },
      },
    );
    assert.equal(retry.status, 400);
    assert.equal(retry.response.error?.data?.code, 'request_state_mismatch');
  });

  test("AgentCore's shell door takes a jwt runtime's token as a WebSocket subprotocol (the SDK's oauth mode); a bad one is refused", async () => {
    process.env.BEDROCK_AGENTCORE_DATA_PLANE_ENDPOINT = node.url;
    const runtimes = new RuntimeClient({ region: 'us-east-1' });
    const runtimeArn = 'arn:aws:bedrock-agentcore:us-east-1:000000000000:runtime/secure-agent';
    const shell = await runtimes.openShell({ runtimeArn, auth: { type: 'oauth', bearerToken: await issuer.token({ sub: 'dora' }) }, keepaliveIntervalMs: 0 });
    let out = '';
    const reading = (async () => {
      for await (const frame of shell) if (frame.channel === ShellChannel.STDOUT) out += frame.text;
    })();
    await shell.send('echo as-$((2*21)); exit 0\n');
    await reading;
    assert.match(out, /as-42/);
    assert.equal(shell.exitCode, 0);
    const sessions = (await (await node.admin('/v1/sessions?runtime=secure-agent')).json()) as { sessions: Array<{ id: string; principal: string }> };
    assert.equal(sessions.sessions.find((session) => session.id === shell.sessionId)?.principal, 'dora', "the shell's session is the token's principal's");
    await assert.rejects(runtimes.openShell({ runtimeArn, auth: { type: 'oauth', bearerToken: 'not-a-token' }, keepaliveIntervalMs: 0 }), /401/);
  });

  test('the server learns who called from the user id header, whatever the caller claims, and never sees the token', async () => {
    const token = await issuer.token({ sub: 'alice' });
    const response = await fetch(`${node.url}/runtimes/secure-agent/invocations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-amzn-bedrock-agentcore-runtime-user-id': 'mallory' },
      body: JSON.stringify({ action: 'echo' }),
    });
    assert.equal(response.status, 200, await response.clone().text());
    const { headers } = (await response.json()) as { headers: Record<string, string> };
    assert.equal(headers['x-amzn-bedrock-agentcore-runtime-user-id'], 'alice');
    assert.equal(headers.authorization, undefined);
    assert.ok(!JSON.stringify(headers).includes(token), 'the token is nowhere in what the server got');
  });

  test("a rotated key is picked up from the issuer's key set, and the old key stops working", async () => {
    await issuer.rotate();
    const fetchesBefore = issuer.jwksFetches;
    const fresh = await call(await issuer.token({ sub: 'carol' }));
    assert.equal(fresh.status, 200, fresh.response.error?.message);
    assert.ok(issuer.jwksFetches > fetchesBefore, 'berth fetched the key set again');
    const old = await call(await issuer.token({ sub: 'carol', key: 'retired' }));
    assert.equal(old.status, 401);
  });

  test("allowedScopes (AgentCore's) takes a token with any one of them", async () => {
    await deploy(node, 'any-scope', await fixtureDir('counter-server'), {
      transport: 'stdio',
      authorizer: { type: 'jwt', discoveryUrl: issuer.discoveryUrl, allowedScopes: ['agents:invoke', 'agents:admin'] },
    });
    const as = async (scope: string) =>
      rawCall(node.url, 'any-scope', 'tools/call', 'increment', {}, { headers: { authorization: `Bearer ${await issuer.token({ scope })}` } });
    assert.equal((await as('profile agents:admin')).status, 200);
    const refused = await as('profile');
    assert.equal(refused.status, 403);
    assert.match(refused.response.error?.message ?? '', /holds none of the scopes this runtime allows \(agents:invoke agents:admin\)/);
    assert.match(refused.headers.get('www-authenticate') ?? '', /scope="agents:invoke agents:admin"/);
  });

  test('the official MCP client finds the issuer from the 401 and calls with a client-credentials token', async () => {
    issuer.addClient('machine-1', 'machine-1-secret');
    for (const mode of ['legacy', { pin: '2026-07-28' }] as const) {
      const requestsBefore = issuer.tokenRequests.length;
      const authProvider = new ClientCredentialsProvider({ clientId: 'machine-1', clientSecret: 'machine-1-secret', expectedIssuer: issuer.url });
      // A client pinned to 2026-07-28 names its session (berth steers a sessionless one to initialize, README).
      const requestInit = mode === 'legacy' ? {} : { requestInit: { headers: { [SESSION_HEADER]: randomUUID() } } };
      const transport = new StreamableHTTPClientTransport(new URL(`${node.url}/runtimes/oauth/mcp`), { authProvider, ...requestInit });
      const client = new Client({ name: 'headless-agent', version: '1.0.0' }, { versionNegotiation: { mode } });
      try {
        await client.connect(transport);
        const result = await client.callTool({ name: 'increment', arguments: {} });
        assert.match((result.content as Array<{ text: string }>)[0]?.text ?? '', /"count":\d+/, JSON.stringify(mode));
      } finally {
        await client.close();
      }
      const asked = issuer.tokenRequests.slice(requestsBefore);
      assert.equal(asked.length, 1, `one token for the whole conversation (${JSON.stringify(mode)})`);
      assert.deepEqual(asked[0], { grant_type: 'client_credentials', scope: 'mcp:call', resource: `${node.url}/runtimes/oauth` });
    }
    const sessions = await node.api.sessions('oauth');
    assert.ok(sessions.length >= 1);
    for (const session of sessions) assert.equal(session.principal, 'machine-1');
  });
});
