import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { JsonRpcResponse } from '../../mcp/jsonrpc.ts';
import { HttpLegacyPeer } from './http-peer.ts';

interface Seen {
  method: string;
  lastEventId?: string;
  sessionId?: string;
  host?: string;
  body?: { id?: number; method?: string };
  /** Closes when the peer lets go of the request (or it is answered). */
  res: ServerResponse;
}

/** A stand-in legacy server: `answer` serves every request but the peer's own GET stream, which it refuses (405). */
async function withServer(
  answer: (seen: Seen, res: ServerResponse, all: Seen[]) => void,
  run: (peer: HttpLegacyPeer, all: Seen[]) => Promise<void>,
): Promise<void> {
  const all: Seen[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (text += chunk));
    req.on('end', () => {
      const lastEventId = req.headers['last-event-id'];
      if (req.method === 'GET' && lastEventId === undefined) {
        res.writeHead(405).end();
        return;
      }
      const seen: Seen = {
        method: req.method ?? '',
        res,
        lastEventId: lastEventId as string | undefined,
        sessionId: req.headers['mcp-session-id'] as string | undefined,
        host: req.headers.host,
      };
      if (text !== '') seen.body = JSON.parse(text) as Seen['body'];
      all.push(seen);
      answer(seen, res, all);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const peer = new HttpLegacyPeer({
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    path: '/mcp',
    onServerMessage: () => {},
    reinitialize: async () => {},
    serverExited: new Promise<string>(() => {}),
    log: () => {},
  });
  peer.established({ sessionId: 'session-1', version: '2025-11-25' });
  try {
    await run(peer, all);
  } finally {
    peer.close();
    server.closeAllConnections();
    server.close();
  }
}

const sse = (res: ServerResponse) => res.writeHead(200, { 'content-type': 'text/event-stream' });

function call(peer: HttpLegacyPeer): { id: number; outcome: Promise<JsonRpcResponse | string> } {
  let id = 0;
  const outcome = new Promise<JsonRpcResponse | string>((resolve) => {
    id = peer.request(
      { jsonrpc: '2.0', id: 'client-7', method: 'tools/call', params: { name: 'slow' } },
      { onNotification: () => {}, onResponse: resolve, onFailure: resolve },
    );
  });
  return { id, outcome };
}

test('a stream ended before the answer is resumed from its last event id, and the answer reaches the call', async () => {
  await withServer(
    (seen, res) => {
      sse(res);
      if (seen.method === 'POST') res.end('id: 7\nretry: 20\ndata: \n\n');
      // A resumed stream may stay open after the answer; the peer must let go of it.
      else res.write(`id: 8\ndata: {"jsonrpc":"2.0","id":${seen.lastEventId === '7' ? 1 : 0},"result":{"ok":true}}\n\n`);
    },
    async (peer, all) => {
      const { outcome } = call(peer);
      assert.deepEqual(await outcome, { jsonrpc: '2.0', id: 'client-7', result: { ok: true } });
      const get = all.find((seen) => seen.method === 'GET');
      assert.equal(get?.lastEventId, '7');
      assert.equal(get?.sessionId, 'session-1');
      if (get && !get.res.closed) await once(get.res, 'close');
    },
  );
});

test('cancelling a call while its stream is resumed ends the GET and tells the server', async () => {
  const resumed = Promise.withResolvers<Seen>();
  await withServer(
    (seen, res) => {
      if (seen.body?.method === 'notifications/cancelled') {
        res.writeHead(202).end();
        return;
      }
      sse(res);
      if (seen.method === 'POST') res.end('id: 1\nretry: 0\ndata: \n\n');
      else resumed.resolve(seen);
    },
    async (peer, all) => {
      const { id } = call(peer);
      const get = await resumed.promise;
      const closed = once(get.res, 'close');
      peer.cancel(id, 'client went away');
      await closed;
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(all.some((seen) => seen.body?.method === 'notifications/cancelled'));
    },
  );
});

test('a stream that ends without event ids fails the call as before', async () => {
  await withServer(
    (_seen, res) => {
      sse(res);
      res.end('data: {"jsonrpc":"2.0","method":"notifications/message","params":{}}\n\n');
    },
    async (peer, all) => {
      assert.equal(await call(peer).outcome, 'the server closed its answer stream before answering');
      assert.ok(!all.some((seen) => seen.method === 'GET'));
    },
  );
});

test('a server that refuses the GET fails the call, saying so', async () => {
  await withServer(
    (seen, res) => {
      if (seen.method === 'GET') {
        res.writeHead(404).end();
        return;
      }
      sse(res);
      res.end('id: 1\nretry: 0\ndata: \n\n');
    },
    async (peer) => {
      assert.match(String(await call(peer).outcome), /closed its answer stream before answering, and refused to resume it \(HTTP 404\)/);
    },
  );
});

test('resumed streams that bring nothing are given up after ten in a row', async () => {
  await withServer(
    (seen, res) => {
      sse(res);
      res.end(seen.method === 'POST' ? 'id: 1\nretry: 0\ndata: \n\n' : '');
    },
    async (peer, all) => {
      assert.match(String(await call(peer).outcome), /10 resumptions in a row brought nothing more/);
      assert.equal(all.filter((seen) => seen.method === 'GET').length, 10);
    },
  );
});

test('the peer asks for the server by its address as Host, as a general client does', async () => {
  await withServer(
    (_seen, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":1,"result":{}}'),
    async (peer, all) => {
      const { outcome } = call(peer);
      assert.deepEqual(await outcome, { jsonrpc: '2.0', id: 'client-7', result: {} });
      assert.match(all[0]?.host ?? '', /^127\.0\.0\.1:\d+$/);
      assert.equal(all[0]?.sessionId, 'session-1');
    },
  );
});
