/**
 * Hostile Host headers against a real berth node listening on loopback (so it serves loopback names only). The
 * requests are written by hand on a socket: fetch sets Host itself and would never send these.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startBerth, type BerthNode } from '../../helpers/berth.ts';

interface RawAnswer {
  status: number;
  body: string;
}

/** Sends `head` (request line and headers, without the blank line) on a fresh connection and reads the whole answer. */
function rawRequest(url: string, head: string): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const headers = text.slice(0, split).toLowerCase();
      const rest = text.slice(split + 4);
      resolve({ status, body: headers.includes('transfer-encoding: chunked') ? unchunk(rest) : rest });
    });
    socket.end(`${head}\r\nConnection: close\r\n\r\n`);
  });
}

function unchunk(text: string): string {
  let body = '';
  let at = 0;
  for (;;) {
    const lineEnd = text.indexOf('\r\n', at);
    const size = parseInt(text.slice(at, lineEnd), 16);
    if (!(size > 0)) return body;
    body += text.slice(lineEnd + 2, lineEnd + 2 + size);
    at = lineEnd + 2 + size + 2;
  }
}

function errorCode(answer: RawAnswer): string | undefined {
  return (JSON.parse(answer.body) as { error?: { code?: string } }).error?.code;
}

describe('hostile Host headers', () => {
  let node: BerthNode;
  let port: string;
  before(async () => {
    node = await startBerth({ driver: 'process' });
    port = new URL(node.url).port;
  });
  after(async () => {
    await node?.stop();
  });

  test('user info naming a loopback address before the attacker host is refused as malformed', async () => {
    for (const host of [`127.0.0.1:${port}@evil.example`, `localhost:${port}@evil.example:${port}`, `127.0.0.1@evil.example`]) {
      const answer = await rawRequest(node.url, `GET /healthz HTTP/1.1\r\nHost: ${host}`);
      assert.equal(answer.status, 400, host);
      assert.equal(errorCode(answer), 'invalid_request', host);
      assert.match(answer.body, /not a plain host/);
    }
  });

  test('the control API behind such a Host answers nothing, even with the admin key', async () => {
    const answer = await rawRequest(node.url, `GET /v1/runtimes HTTP/1.1\r\nHost: 127.0.0.1:${port}@evil.example\r\nAuthorization: Bearer ${node.adminKey}`);
    assert.equal(answer.status, 400);
    assert.ok(!answer.body.includes('"runtimes"'), answer.body);
  });

  test('other hostile spellings are refused, malformed or foreign', async () => {
    const spellings: Array<[string, number]> = [
      [`127.0.0.1:${port}:${port}`, 400],
      [`localhost.:${port}`, 400],
      [`%6cocalhost:${port}`, 400],
      [`localh\u00f6st:${port}`, 400],
      [`::1:${port}`, 400],
      [`127.0.0.1:99999`, 400],
      [`${'a'.repeat(300)}:${port}`, 400],
      [`evil.example:${port}`, 403],
      [`EVIL.EXAMPLE`, 403],
      [`2130706433:${port}`, 403],
    ];
    for (const [host, status] of spellings) {
      const answer = await rawRequest(node.url, `GET /healthz HTTP/1.1\r\nHost: ${host}`);
      assert.equal(answer.status, status, host);
    }
  });

  test('a second Host header beside an allowed one is refused', async () => {
    const answer = await rawRequest(node.url, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nHost: evil.example`);
    assert.equal(answer.status, 400);
  });

  test('the node still answers a plain request afterwards, in any case of its name', async () => {
    const plain = await rawRequest(node.url, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}`);
    assert.equal(plain.status, 200);
    assert.equal((JSON.parse(plain.body) as { ok: boolean }).ok, true);
    const upper = await rawRequest(node.url, `GET /healthz HTTP/1.1\r\nHost: LOCALHOST:${port}`);
    assert.equal(upper.status, 200);
    assert.equal((await fetch(`${node.url}/healthz`)).status, 200);
    assert.ok(!/request failed|unhandled edge error/.test(node.logs()), 'no hostile Host reached an internal error');
  });
});
