import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { OutboundPolicy } from '../../core/outbound-policy.ts';
import { TestIssuer } from '../../../test/helpers/oidc-issuer.ts';
import { Issuer, IssuerUnavailable } from './issuer.ts';
import { JwtVerifier, TokenRefused } from './jwt.ts';
import { OutboundFetcher } from './outbound-fetch.ts';

/** A token with any header and claims, and `signatureBytes` random bytes for a signature: no key made it. */
function craft(header: Record<string, unknown>, claims: Record<string, unknown>, signatureBytes = 256): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part(header)}.${part(claims)}.${randomBytes(signatureBytes).toString('base64url')}`;
}

const fetcher = new OutboundFetcher({ policy: new OutboundPolicy(['127.0.0.1/32'], []) });
const verifierOf = (issuer: TestIssuer, cooldownMs = 30_000) =>
  new JwtVerifier(
    { type: 'jwt', discoveryUrl: issuer.discoveryUrl, allowedAudience: ['berth-test'] },
    new Issuer(issuer.discoveryUrl, { fetcher, keysCooldownMs: cooldownMs }),
  );

describe('JwtVerifier against an issuer it must not be made to fetch from', () => {
  const issuers: TestIssuer[] = [];
  const start = async (options: Parameters<typeof TestIssuer.start>[0] = {}) => {
    const issuer = await TestIssuer.start(options);
    issuers.push(issuer);
    return issuer;
  };
  let inward: TestIssuer;
  before(async () => {
    inward = await start({ host: '127.0.0.2' });
  });
  after(() => {
    for (const issuer of issuers) issuer.close();
  });

  test('a token that is not a well-formed JWS with an accepted algorithm and signature, or names no issuer, fetches nothing', async () => {
    const issuer = await start();
    const verifier = verifierOf(issuer);
    const exp = Math.floor(Date.now() / 1000) + 300;
    const claims = { iss: issuer.url, sub: 'mallory', aud: 'berth-test', exp };
    const cases: Array<[string, string, RegExp]> = [
      ['garbage', 'not.a.jwt', /not a well-formed JWT/],
      ['two parts', 'eyJhbGciOiJSUzI1NiJ9.e30', /not a well-formed JWT/],
      ['five parts (JWE)', 'a.b.c.d.e', /not a well-formed JWT/],
      ['unsigned (alg none, empty signature)', craft({ alg: 'none' }, claims, 0), /not a well-formed JWT/],
      ['alg none with a signature', craft({ alg: 'none', kid: 'k' }, claims, 1), /algorithm berth does not accept/],
      ['symmetric', craft({ alg: 'HS256', kid: 'k' }, claims, 32), /algorithm berth does not accept/],
      ['no algorithm', craft({ kid: 'k' }, claims), /algorithm berth does not accept/],
      ['a kid that is not a string', craft({ alg: 'RS256', kid: 7 }, claims), /not a well-formed JWT/],
      ['a signature too short for RS256', craft({ alg: 'RS256', kid: 'k' }, claims, 64), /signature does not verify/],
      ['a signature too long for ES256', craft({ alg: 'ES256', kid: 'k' }, claims, 65), /signature does not verify/],
      [
        'claims that are not an object',
        `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from('[1]').toString('base64url')}.${randomBytes(256).toString('base64url')}`,
        /not a well-formed JWT/,
      ],
      ['no issuer', craft({ alg: 'RS256', kid: 'k' }, { sub: 'mallory', exp }), /names no issuer/],
    ];
    for (const [what, token, why] of cases) {
      await assert.rejects(verifier.verify(token), (error) => error instanceof TokenRefused && why.test(error.message), what);
    }
    assert.equal(issuer.requests, 0, 'the issuer was never asked');
  });

  test("a token naming another issuer fetches the configured issuer's document once and never its keys", async () => {
    const issuer = await start();
    const verifier = verifierOf(issuer);
    for (let i = 0; i < 50; i++) {
      const token = craft(
        { alg: 'RS256', kid: `k${i}` },
        { iss: `http://127.0.0.2:${inward.url.split(':')[2]}`, sub: 'mallory', exp: Math.floor(Date.now() / 1000) + 300 },
      );
      await assert.rejects(verifier.verify(token), /another issuer/);
    }
    assert.deepEqual([issuer.discoveryFetches, issuer.jwksFetches, inward.requests], [1, 0, 0]);
  });

  test('forged tokens naming the issuer and ever new keys fetch its key set once per cooldown; a real token passes', async () => {
    const issuer = await start();
    const verifier = verifierOf(issuer);
    for (let i = 0; i < 50; i++) {
      const token = craft(
        { alg: 'RS256', kid: `forged-${i}` },
        { iss: issuer.url, sub: 'mallory', aud: 'berth-test', exp: Math.floor(Date.now() / 1000) + 300 },
      );
      await assert.rejects(verifier.verify(token), /no key of the issuer's key set signed this token/);
    }
    assert.deepEqual([issuer.discoveryFetches, issuer.jwksFetches], [1, 1]);
    const claims = await verifier.verify(await issuer.token({ sub: 'alice' }));
    assert.equal(claims.sub, 'alice');
    assert.deepEqual([issuer.discoveryFetches, issuer.jwksFetches], [1, 1]);
  });

  test('a key rotation is picked up once the cooldown has passed', async () => {
    const issuer = await start();
    const verifier = verifierOf(issuer, 0);
    await verifier.verify(await issuer.token({}));
    await issuer.rotate();
    assert.equal((await verifier.verify(await issuer.token({ sub: 'carol' }))).sub, 'carol');
    assert.equal(issuer.jwksFetches, 2);
  });

  test('an issuer that cannot be read is unavailable, with Retry-After, and asked once for 50 tokens', async () => {
    const issuer = await start();
    issuer.discoveryStatus = 500;
    const verifier = verifierOf(issuer);
    const token = await issuer.token({});
    for (let i = 0; i < 50; i++) {
      await assert.rejects(
        verifier.verify(token),
        (error) => error instanceof IssuerUnavailable && /answered 500/.test(error.message) && error.retryAfter >= 29 && error.retryAfter <= 30,
      );
    }
    await assert.rejects(verifier.issuer(), IssuerUnavailable);
    assert.equal(issuer.discoveryFetches, 1);
  });

  test('a document that names another issuer, or keys berth would not fetch, is refused without fetching them', async () => {
    const cases: Array<[string, (document: Record<string, unknown>) => Record<string, unknown>, RegExp]> = [
      [
        'another issuer',
        (document) => ({ ...document, issuer: 'https://evil.example' }),
        /names the issuer "https:\/\/evil\.example", but an issuer's document is under its own URL/,
      ],
      [
        'keys inward',
        (document) => ({ ...document, jwks_uri: `${inward.url}/jwks` }),
        /its jwks_uri http:\/\/127\.0\.0\.2:\d+\/jwks is not one berth fetches: .*plain http/,
      ],
      ['keys at the metadata service', (document) => ({ ...document, jwks_uri: 'https://169.254.169.254/latest/meta-data/' }), /link-local address/],
      ['keys on a loopback name', (document) => ({ ...document, jwks_uri: 'https://localhost/jwks' }), /loopback name/],
      ['keys at a file', (document) => ({ ...document, jwks_uri: 'file:///etc/passwd' }), /file: URLs are not fetched/],
      ['no keys', ({ jwks_uri: _dropped, ...document }) => document, /lacks issuer or jwks_uri/],
    ];
    for (const [what, document, why] of cases) {
      const issuer = await start({ document });
      const verifier = verifierOf(issuer);
      await assert.rejects(verifier.issuer(), (error) => error instanceof IssuerUnavailable && why.test(error.message), what);
      await assert.rejects(verifier.verify(await issuer.token({})), IssuerUnavailable, what);
      assert.deepEqual([issuer.discoveryFetches, issuer.jwksFetches], [1, 0], what);
    }
    assert.equal(inward.requests, 0);
  });

  test('a redirect is not followed', async () => {
    const issuer = await start({ redirectDiscoveryTo: inward.discoveryUrl });
    const verifier = verifierOf(issuer);
    await assert.rejects(verifier.issuer(), /redirect \(302 to http:\/\/127\.0\.0\.2:\d+\/\.well-known\/openid-configuration\), and berth follows none/);
    assert.equal(inward.requests, 0);
  });
});
