import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { OutboundPolicy } from '../../core/outbound-policy.ts';
import { OutboundFailure, OutboundFetcher, type Resolve } from './outbound-fetch.ts';

/** A loopback server that counts its requests and answers each path as `answers` says (default: a small JSON). */
async function serve(host: string, answers: Record<string, (res: ServerResponse) => void> = {}): Promise<{ server: Server; port: number; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.headers.host ?? ''}${req.url ?? ''}`);
    const answer = answers[req.url ?? ''];
    if (answer) answer(res);
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { server, port: (server.address() as { port: number }).port, hits };
}

/** A resolver that answers from a table and counts its lookups. */
function table(answers: Record<string, LookupAddress[]>): Resolve & { lookups: string[] } {
  const lookups: string[] = [];
  const resolve = async (host: string): Promise<LookupAddress[]> => {
    lookups.push(host);
    const found = answers[host];
    if (!found) throw Object.assign(new Error(`no such name ${host}`), { code: 'ENOTFOUND' });
    return found;
  };
  return Object.assign(resolve, { lookups });
}

describe('OutboundFetcher', () => {
  let issuer: Awaited<ReturnType<typeof serve>>;
  let inward: Awaited<ReturnType<typeof serve>>;

  before(async () => {
    inward = await serve('127.0.0.2');
    issuer = await serve('127.0.0.1', {
      '/redirect': (res) => res.writeHead(302, { location: `http://127.0.0.2:${inward.port}/secret` }).end(),
      '/huge': (res) => res.writeHead(200).end(`"${'x'.repeat(2048)}"`),
      '/html': (res) => res.writeHead(200).end('<html>'),
      '/missing': (res) => res.writeHead(404).end(),
    });
  });
  after(() => {
    issuer.server.close();
    inward.server.close();
  });

  const loopbackAllowed = (ports: number[] = []) => new OutboundPolicy(['127.0.0.1/32', 'issuer.test'], ports);

  test('a listed address is fetched, and answers other than 200 JSON say what came', async () => {
    const fetcher = new OutboundFetcher({ policy: loopbackAllowed(), maxBytes: 1024 });
    assert.deepEqual(await fetcher.json(new URL(`http://127.0.0.1:${issuer.port}/doc`)), { ok: true });
    await assert.rejects(
      fetcher.json(new URL(`http://127.0.0.1:${issuer.port}/missing`)),
      (error) => error instanceof OutboundFailure && /answered 404/.test(error.message),
    );
    await assert.rejects(fetcher.json(new URL(`http://127.0.0.1:${issuer.port}/html`)), /not JSON/);
    await assert.rejects(fetcher.json(new URL(`http://127.0.0.1:${issuer.port}/huge`)), /more than 1024 bytes/);
  });

  test('a redirect is not followed, even to where the policy would not refuse', async () => {
    const before = inward.hits.length;
    const fetcher = new OutboundFetcher({ policy: new OutboundPolicy(['127.0.0.0/8'], []) });
    await assert.rejects(
      fetcher.json(new URL(`http://127.0.0.1:${issuer.port}/redirect`)),
      /redirect \(302 to http:\/\/127\.0\.0\.2:\d+\/secret\), and berth follows none/,
    );
    assert.equal(inward.hits.length, before, 'the redirect target was never asked');
  });

  test('an address outside the list is refused before any connection', async () => {
    const before = inward.hits.length;
    const fetcher = new OutboundFetcher({ policy: loopbackAllowed() });
    for (const host of [`127.0.0.2:${inward.port}`, `[::ffff:127.0.0.2]:${inward.port}`, `0x7f000002:${inward.port}`]) {
      await assert.rejects(fetcher.json(new URL(`https://${host}/`)), /loopback address, which berth fetches from only if BERTH_OUTBOUND_ALLOW lists it/, host);
    }
    await assert.rejects(fetcher.json(new URL('https://169.254.169.254/latest/meta-data/')), /link-local/);
    assert.equal(inward.hits.length, before);
  });

  test("berth's own port is refused even on a listed address", async () => {
    const fetcher = new OutboundFetcher({ policy: loopbackAllowed([issuer.port]) });
    const before = issuer.hits.length;
    await assert.rejects(fetcher.json(new URL(`http://127.0.0.1:${issuer.port}/doc`)), /berth's own/);
    assert.equal(issuer.hits.length, before);
  });

  test('a name is refused if any address it resolves to is, and no lookup is made for a literal address', async () => {
    const resolve = table({
      'mixed.example': [
        { address: '203.0.113.9', family: 4 },
        { address: '127.0.0.1', family: 4 },
      ],
      'metadata.example': [{ address: 'fd00:ec2::254', family: 6 }],
    });
    const fetcher = new OutboundFetcher({ policy: new OutboundPolicy([], []), resolve });
    await assert.rejects(
      fetcher.json(new URL('https://mixed.example/x')),
      (error) => error instanceof OutboundFailure && /mixed\.example resolves to 127\.0\.0\.1, which is a loopback address/.test(error.message),
    );
    await assert.rejects(fetcher.json(new URL('https://metadata.example/x')), /resolves to fd00:ec2::254, which is a private address/);
    await assert.rejects(fetcher.json(new URL('https://nowhere.example/x')), /nowhere\.example does not resolve \(ENOTFOUND\)/);
    assert.deepEqual(resolve.lookups, ['mixed.example', 'metadata.example', 'nowhere.example']);
    await assert.rejects(fetcher.json(new URL('https://127.0.0.2/x')), /loopback/);
    assert.equal(resolve.lookups.length, 3);
  });

  test('the connection goes to the address judged, never to a second answer (rebinding)', async () => {
    // The first answer is the listed server; any later lookup would answer the inward one.
    let answered = 0;
    const resolve: Resolve = async () => (answered++ === 0 ? [{ address: '127.0.0.1', family: 4 }] : [{ address: '127.0.0.2', family: 4 }]);
    const fetcher = new OutboundFetcher({ policy: loopbackAllowed(), resolve });
    const before = inward.hits.length;
    assert.deepEqual(await fetcher.json(new URL(`http://issuer.test:${issuer.port}/pinned`)), { ok: true });
    assert.equal(answered, 1, 'one lookup, made by the fetcher');
    assert.equal(issuer.hits.at(-1), `issuer.test:${issuer.port}/pinned`, 'the request went to the judged address, with the name as Host');
    assert.equal(inward.hits.length, before);
  });

  test('a lookup that never answers times out', async () => {
    const fetcher = new OutboundFetcher({ policy: loopbackAllowed(), resolve: () => new Promise(() => undefined), timeoutMs: 200 });
    await assert.rejects(fetcher.json(new URL('https://slow.example/x')), /slow\.example does not resolve \(timed out\)/);
  });
});
