import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { netConnector } from './http1-client.ts';
import { http1Server } from './http1-server.ts';
import { openTunnel, TunnelError } from './tunnel.ts';

test("an upgrade on berth's own HTTP/1.1 server: the handler takes the connection over, bytes then pass both ways", async () => {
  const server = http1Server(
    (req, res) => {
      if (req.url === '/refuse') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('no such tunnel');
        return;
      }
      assert.equal(req.upgrade, true);
      const { socket, head } = req.takeOver();
      socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\nhello ');
      if (head.length > 0) socket.write(head);
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
    },
    { idleMs: 5000, headersTimeoutMs: 5000 },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const connect = netConnector({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  try {
    const tunnel = await openTunnel(connect, { path: '/echo', headers: { upgrade: 'echo' } }, new AbortController().signal, 5000);
    assert.ok(tunnel.upgraded);
    assert.equal(tunnel.headers.upgrade, 'echo');
    let received = tunnel.head.toString();
    tunnel.socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    tunnel.socket.write('world');
    for (let i = 0; i < 100 && received !== 'hello world'; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(received, 'hello world');
    tunnel.socket.destroy();

    const refused = await openTunnel(connect, { path: '/refuse', headers: { upgrade: 'echo' } }, new AbortController().signal, 5000);
    assert.equal(refused.upgraded, false);
    assert.equal(refused.status, 404);
    assert.ok(!refused.upgraded && refused.body.toString() === 'no such tunnel');
  } finally {
    server.close();
  }
});

test('a peer that never answers the upgrade fails it at the timeout; an abort closes it at once', async () => {
  const server = http1Server(() => {}, { idleMs: 5000, headersTimeoutMs: 5000 });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const connect = netConnector({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  try {
    await assert.rejects(
      openTunnel(connect, { path: '/x', headers: { upgrade: 'x' } }, new AbortController().signal, 200),
      /no answer to the upgrade within 200 ms/,
    );
    const controller = new AbortController();
    const pending = openTunnel(connect, { path: '/x', headers: { upgrade: 'x' } }, controller.signal, 5000);
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(pending);
  } finally {
    server.close();
  }
});

test('a peer whose answer breaks HTTP, or that closes before answering, fails the upgrade with a TunnelError', async () => {
  for (const reply of ['NOT HTTP AT ALL\r\n\r\n', '']) {
    const server = createServer((socket) => {
      socket.once('data', () => (reply === '' ? socket.destroy() : socket.end(reply)));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const connect = netConnector({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
    try {
      await assert.rejects(openTunnel(connect, { path: '/x', headers: { upgrade: 'x' } }, new AbortController().signal, 5000), (error: Error) => {
        assert.ok(error instanceof TunnelError);
        assert.match(error.message, reply === '' ? /closed before an answer/ : /breaks HTTP\/1\.1/);
        return true;
      });
    } finally {
      server.close();
    }
  }
});
