/**
 * Aiming berth's own outbound fetches (an issuer's discovery document and keys) inward, against a real berth node
 * that allows loopback only at 127.0.0.1 (BERTH_OUTBOUND_ALLOW=127.0.0.1/32). 127.0.0.2 is loopback on Linux and
 * stands for everything berth must not reach: a canary issuer there counts every request it gets, and must get none.
 * Each case ends with berth still answering /healthz.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deploy, startBerth, type BerthNode } from '../../helpers/berth.ts';
import { fixtureDir } from '../../helpers/fixtures.ts';
import { TestIssuer, type IssuerOptions } from '../../helpers/oidc-issuer.ts';

const ALLOW = { BERTH_OUTBOUND_ALLOW: '127.0.0.1/32' };

/** A token with a well-formed header and claims and random bytes for a signature: no key made it. */
function forged(header: Record<string, unknown>, claims: Record<string, unknown>, signatureBytes = 256): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part(header)}.${part(claims)}.${randomBytes(signatureBytes).toString('base64url')}`;
}

describe('issuer discovery cannot be aimed inward', () => {
  let node: BerthNode;
  let canary: TestIssuer;
  let counter: string;
  const issuers: TestIssuer[] = [];

  const startIssuer = async (options: IssuerOptions = {}) => {
    const issuer = await TestIssuer.start(options);
    issuers.push(issuer);
    return issuer;
  };
  const metadata = (runtime: string) => fetch(`${node.url}/.well-known/oauth-protected-resource/runtimes/${runtime}`);
  const call = (runtime: string, token: string) =>
    fetch(`${node.url}/runtimes/${runtime}/invocations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
    });
  const deployJwt = (name: string, discoveryUrl: string) => deploy(node, name, counter, { transport: 'stdio', authorizer: { type: 'jwt', discoveryUrl } });
  /** The error of a REST answer (`error.code`) or a JSON-RPC one (`error.data.code`), as code and message. */
  const errorOf = async (response: Response): Promise<{ code: string; message: string }> => {
    const { error } = (await response.json()) as { error: { code: string | number; message: string; data?: { code: string } } };
    return { code: error.data?.code ?? String(error.code), message: error.message };
  };
  const healthy = async () => assert.equal((await fetch(`${node.url}/healthz`)).status, 200, 'berth still answers /healthz');

  before(async () => {
    canary = await startIssuer({ host: '127.0.0.2' });
    counter = await fixtureDir('counter-server');
    node = await startBerth({ driver: 'process', env: ALLOW });
  });
  after(async () => {
    await node?.stop();
    for (const issuer of issuers) issuer.close();
    assert.equal(canary.requests, 0, 'nothing ever reached the canary on 127.0.0.2');
  });

  test('deploying a discovery URL at loopback, the metadata service, a private range, a loopback name or berth itself is refused', async () => {
    const berthPort = new URL(node.url).port;
    const canaryPort = new URL(canary.url).port;
    const refused: Array<[string, RegExp]> = [
      [canary.discoveryUrl, /plain http.*BERTH_OUTBOUND_ALLOW/],
      [`https://127.0.0.2:${canaryPort}/.well-known/openid-configuration`, /loopback address.*BERTH_OUTBOUND_ALLOW/],
      [`https://0x7f000002:${canaryPort}/.well-known/openid-configuration`, /loopback address/],
      [`https://2130706434:${canaryPort}/.well-known/openid-configuration`, /loopback address/],
      [`https://127.2:${canaryPort}/.well-known/openid-configuration`, /loopback address/],
      [`https://[::ffff:127.0.0.2]:${canaryPort}/.well-known/openid-configuration`, /loopback address/],
      ['https://[::1]/.well-known/openid-configuration', /loopback address/],
      ['https://169.254.169.254/.well-known/openid-configuration', /link-local address.*BERTH_OUTBOUND_ALLOW/],
      ['https://[fd00:ec2::254]/.well-known/openid-configuration', /private address/],
      ['https://10.0.0.1/.well-known/openid-configuration', /private address/],
      ['https://100.64.0.1/.well-known/openid-configuration', /private address/],
      ['https://0.0.0.0/.well-known/openid-configuration', /unspecified/],
      [`https://localhost:${canaryPort}/.well-known/openid-configuration`, /loopback name.*BERTH_OUTBOUND_ALLOW/],
      ['http://idp.example.com/.well-known/openid-configuration', /plain http.*give an https URL/],
      [`http://127.0.0.1:${berthPort}/.well-known/openid-configuration`, /port \d+ is berth's own/],
      [`https://127.0.0.1:${berthPort}/.well-known/openid-configuration`, /port \d+ is berth's own/],
    ];
    for (const [url, why] of refused) {
      await assert.rejects(deployJwt('inward', url), (error: Error) => /authorizer\.discoveryUrl/.test(error.message) && why.test(error.message), url);
    }
    assert.equal((await node.admin('/v1/runtimes/inward')).status, 404, 'no runtime was made');
    await healthy();
  });

  test('a healthy allowed issuer: 50 anonymous metadata GETs fetch its document once; forged tokens fetch its keys at most once', async () => {
    const issuer = await startIssuer();
    await deployJwt('honest', issuer.discoveryUrl);
    for (let i = 0; i < 50; i++) {
      const answer = await metadata('honest');
      assert.equal(answer.status, 200);
      assert.deepEqual(((await answer.json()) as { authorization_servers: string[] }).authorization_servers, [issuer.url]);
    }
    assert.deepEqual([issuer.discoveryFetches, issuer.jwksFetches], [1, 0]);
    const exp = Math.floor(Date.now() / 1000) + 300;
    const junk = [
      'garbage',
      'not.a.jwt',
      forged({ alg: 'none' }, { iss: issuer.url, sub: 'mallory', exp }, 0),
      forged({ alg: 'HS256', kid: 'key-1' }, { iss: issuer.url, sub: 'mallory', exp }, 32),
      forged({ alg: 'RS256', kid: 'key-1', jku: `${canary.url}/jwks` }, { iss: canary.url, sub: 'mallory', exp }),
      forged({ alg: 'RS256', kid: 'key-1' }, { iss: 'http://169.254.169.254', sub: 'mallory', exp }),
    ];
    for (let i = 0; i < 50; i++) {
      const answer = await call('honest', junk[i % junk.length] as string);
      assert.equal(answer.status, 401, `junk token ${i % junk.length}`);
    }
    assert.deepEqual([issuer.discoveryFetches, issuer.jwksFetches], [1, 0], 'tokens that are not well-formed JWS of this issuer fetch nothing');
    for (let i = 0; i < 50; i++) {
      const answer = await call('honest', forged({ alg: 'RS256', kid: `forged-${i}` }, { iss: issuer.url, sub: 'mallory', exp }));
      assert.equal(answer.status, 401);
      assert.match((await errorOf(answer)).message, /no key of the issuer's key set signed this token/);
    }
    assert.deepEqual([issuer.discoveryFetches, issuer.jwksFetches], [1, 1], 'forged keys fetch the key set once per cooldown');
    await healthy();
  });

  test('an issuer that fails is asked once for 50 GETs and 50 tokens, each answered 503 with Retry-After', async () => {
    const issuer = await startIssuer();
    issuer.discoveryStatus = 500;
    await deployJwt('failing', issuer.discoveryUrl);
    for (let i = 0; i < 50; i++) {
      const answer = i % 2 === 0 ? await metadata('failing') : await call('failing', await issuer.token({}));
      assert.equal(answer.status, 503);
      const retryAfter = Number(answer.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 30, `Retry-After ${retryAfter}`);
      const error = await errorOf(answer);
      assert.equal(error.code, 'issuer_unavailable');
      assert.match(error.message, /runtime "failing" cannot check bearer tokens now: .*answered 500/);
    }
    assert.equal(issuer.discoveryFetches, 1);
    await healthy();
  });

  test('a redirect to loopback is not followed, and the metadata names no issuer', async () => {
    const issuer = await startIssuer({ redirectDiscoveryTo: canary.discoveryUrl });
    await deployJwt('redirected', issuer.discoveryUrl);
    for (let i = 0; i < 50; i++) {
      const answer = await metadata('redirected');
      assert.equal(answer.status, 503);
      const error = await errorOf(answer);
      assert.equal(error.code, 'issuer_unavailable');
      assert.match(error.message, /redirect \(302 to http:\/\/127\.0\.0\.2:\d+\/\.well-known\/openid-configuration\), and berth follows none/);
    }
    assert.equal(issuer.discoveryFetches, 1);
    await healthy();
  });

  test('a document naming keys inward, or another issuer, is refused: crafted tokens make berth fetch nothing it names', async () => {
    const cases: Array<[string, IssuerOptions['document'], RegExp]> = [
      ['keys-inward', (document) => ({ ...document, jwks_uri: `${canary.url}/jwks` }), /jwks_uri http:\/\/127\.0\.0\.2:\d+\/jwks is not one berth fetches/],
      ['keys-metadata', (document) => ({ ...document, jwks_uri: 'https://169.254.169.254/latest/meta-data/iam/' }), /link-local/],
      ['keys-berth', (document) => ({ ...document, jwks_uri: `${node.url}/v1/runtimes` }), /berth's own/],
      ['other-issuer', (document) => ({ ...document, issuer: canary.url }), /names the issuer "http:\/\/127\.0\.0\.2:\d+"/],
    ];
    for (const [name, document, why] of cases) {
      const issuer = await startIssuer({ document });
      await deployJwt(name, issuer.discoveryUrl);
      const answer = await metadata(name);
      assert.equal(answer.status, 503, name);
      const error = await errorOf(answer);
      assert.equal(error.code, 'issuer_unavailable', name);
      assert.match(error.message, why, name);
      for (const iss of [issuer.url, canary.url]) {
        const token = forged({ alg: 'RS256', kid: 'key-1' }, { iss, sub: 'mallory', exp: Math.floor(Date.now() / 1000) + 300 });
        assert.equal((await call(name, token)).status, 503, name);
      }
      assert.deepEqual([issuer.discoveryFetches, issuer.jwksFetches], [1, 0], name);
    }
    await healthy();
  });

  test('a runtime stored while its issuer was allowed fetches nothing once the operator stops allowing it', async () => {
    const home = mkdtempSync(join(tmpdir(), 'berth-outbound-'));
    const issuer = await startIssuer();
    let other = await startBerth({ driver: 'process', home, env: ALLOW });
    try {
      await deploy(other, 'was-allowed', counter, { transport: 'stdio', authorizer: { type: 'jwt', discoveryUrl: issuer.discoveryUrl } });
      await other.stop();
      other = await startBerth({ driver: 'process', home });
      for (let i = 0; i < 10; i++) {
        const answer = await fetch(`${other.url}/.well-known/oauth-protected-resource/runtimes/was-allowed`);
        assert.equal(answer.status, 503);
        assert.match(
          (await errorOf(answer)).message,
          /http:\/\/127\.0\.0\.1:\d+ is plain http, which berth fetches only from hosts BERTH_OUTBOUND_ALLOW lists/,
        );
        const token = await issuer.token({});
        assert.equal(
          (await fetch(`${other.url}/runtimes/was-allowed/invocations`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '{}' })).status,
          503,
        );
      }
      assert.equal(issuer.requests, 0, 'the issuer was never asked');
      assert.equal((await fetch(`${other.url}/healthz`)).status, 200);
    } finally {
      await other.stop();
      rmSync(home, { recursive: true, force: true });
    }
  });

  test('a bad BERTH_OUTBOUND_ALLOW entry stops berth at start, saying what an entry may be', async () => {
    await assert.rejects(
      startBerth({ driver: 'process', env: { BERTH_OUTBOUND_ALLOW: 'https://idp.example.com' } }),
      /BERTH_OUTBOUND_ALLOW .*neither a host name/,
    );
  });
});
