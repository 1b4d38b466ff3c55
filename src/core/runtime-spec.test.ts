import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runtimeSpec } from '../../test/helpers/runtime-spec.ts';
import { authorizerOf, DeployInput } from './runtime-spec.ts';

const BASE = { artifactId: 'art_abc', command: 'node server.js' };

test("a deploy naming only its code and command gets AgentCore's defaults", () => {
  assert.deepEqual(DeployInput.parse(BASE), { ...BASE, transport: 'http', port: 8000, path: '/mcp', protocol: 'mcp', serverEra: 'auto', env: {} });
});

test('a deploy is strict: an unknown field, a NUL in what a sandbox starts with, or a bad egress entry is refused', () => {
  assert.equal(DeployInput.safeParse({ ...BASE, image: 'x' }).success, false);
  assert.equal(DeployInput.safeParse({ ...BASE, command: 'node\0x' }).success, false);
  assert.equal(DeployInput.safeParse({ ...BASE, env: { A: 'b\0' } }).success, false);
  assert.equal(DeployInput.safeParse({ ...BASE, env: { '1A': 'b' } }).success, false);
  assert.equal(DeployInput.safeParse({ ...BASE, network: { mode: 'egress', allow: ['example.com', '*.example.org'] } }).success, true);
  assert.equal(DeployInput.safeParse({ ...BASE, network: { mode: 'egress', allow: ['http://example.com/'] } }).success, false);
});

test("a runtime may not declare the launcher's own variables (it unsets them before the server starts)", () => {
  const refused = DeployInput.safeParse({ ...BASE, env: { BERTH_LAUNCH_COMMAND: 'sh -c evil' } });
  assert.equal(refused.success, false);
  assert.match(refused.error?.issues[0]?.message ?? '', /BERTH_LAUNCH_ are berth's own/);
  assert.equal(DeployInput.safeParse({ ...BASE, env: { BERTH_LAUNCHER: 'mine' } }).success, true, "only the prefix is berth's");
});

test('a claim rule takes a list of values for containsAny and one value otherwise', () => {
  const jwt = (value: string | string[], operator: string) => ({
    ...BASE,
    authorizer: {
      type: 'jwt',
      discoveryUrl: 'https://issuer.example/.well-known/openid-configuration',
      requiredClaims: [{ claim: 'groups', operator, value }],
    },
  });
  assert.equal(DeployInput.safeParse(jwt(['a', 'b'], 'containsAny')).success, true);
  assert.equal(DeployInput.safeParse(jwt('a', 'containsAny')).success, false);
  assert.equal(DeployInput.safeParse(jwt('a', 'equals')).success, true);
  assert.equal(DeployInput.safeParse(jwt(['a'], 'contains')).success, false);
});

test("a jwt authorizer's discovery URL is an http(s) OpenID configuration", () => {
  const jwt = (discoveryUrl: string) => ({ ...BASE, authorizer: { type: 'jwt', discoveryUrl } });
  assert.equal(DeployInput.safeParse(jwt('https://issuer.example/.well-known/openid-configuration')).success, true);
  assert.equal(DeployInput.safeParse(jwt('https://issuer.example/jwks.json')).success, false);
  assert.equal(DeployInput.safeParse(jwt('ftp://issuer.example/.well-known/openid-configuration')).success, false);
});

test("a version's authorizer is its own, SigV4 for one AgentCore's API made without one, else none", () => {
  const spec = runtimeSpec(BASE);
  assert.equal(authorizerOf(spec), undefined);
  assert.deepEqual(authorizerOf({ ...spec, agentcore: { roleArn: 'r' } }), { type: 'sigv4' });
  assert.deepEqual(authorizerOf({ ...spec, agentcore: {}, authorizer: { type: 'apiKey' } }), { type: 'apiKey' });
});
