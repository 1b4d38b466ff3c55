import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, test } from 'node:test';
import { Http1Client, netConnector } from './http1-client.ts';
import { http1Server, type Http1Handler, type Http1ServerOptions } from './http1-server.ts';

interface Served {
  port: number;
  server: Server;
  connections: Socket[];
  close(): Promise<void>;
}

async function serve(handler: Http1Handler, options: Partial<Http1ServerOptions> = {}): Promise<Served> {
  const server = http1Server(handler, { idleMs: 60_000, headersTimeoutMs: 30_000, ...options });
  const connections: Socket[] = [];
  server.on('connection', (socket: Socket) => connections.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    connections,
    close: async () => {
      for (const socket of connections) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A request with node:http's client (a third party to berth's server); `body` a string or a stream sent chunked. */
function send(
  port: number,
  options: { method?: string; path?: string; body?: string | Readable; agent?: Agent; headers?: Record<string, string> } = {},
): Promise<{ res: IncomingMessage; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method: options.method ?? 'POST', path: options.path ?? '/mcp', agent: options.agent ?? false, headers: options.headers },
      (res) => void text(res).then((body) => resolve({ res, body }), reject),
    );
    req.on('error', reject);
    if (options.body instanceof Readable) options.body.pipe(req);
    else req.end(options.body);
  });
}

/** Raw bytes to the server on a fresh connection; resolves with all it sent back once it closed the connection. */
async function rawExchange(port: number, ...writes: string[]): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => {});
  await once(socket, 'connect');
  for (const bytes of writes) socket.write(bytes, 'latin1');
  await once(socket, 'close');
  return received;
}

const echo: Http1Handler = (req, res) => {
  void req.bytes(1 << 20).then((body) => {
    const answer = JSON.stringify({ method: req.method, url: req.url, whole: req.whole !== undefined, body: body.toString(), x: req.headers['x-one'] });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) }).end(answer);
  });
};

describe('the HTTP/1.1 server', () => {
  test('hands a short body over whole, answers with its length, and the connection carries the next request', async () => {
    const served = await serve(echo);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 3; i++) {
        const { res, body } = await send(served.port, { body: `{"n":${i}}`, agent, headers: { 'x-one': 'a' } });
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['content-length'], String(Buffer.byteLength(body)));
        assert.match(String(res.headers['keep-alive']), /^timeout=60$/);
        assert.deepEqual(JSON.parse(body), { method: 'POST', url: '/mcp', whole: true, body: `{"n":${i}}`, x: 'a' });
      }
      assert.equal(served.connections.length, 1, 'one connection carried every request');
    } finally {
      agent.destroy();
      await served.close();
    }
  });

  test('streams a chunked body to its handler and an answer of unknown length out in chunks', async () => {
    const served = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      req.body().on('data', (chunk: Buffer) => res.write(`<${chunk.toString()}>`));
      req.body().once('end', () => res.end('done'));
    });
    try {
      const body = new Readable({ read() {} });
      const answer = send(served.port, { body });
      body.push('one');
      await new Promise((resolve) => setTimeout(resolve, 20));
      body.push('two');
      body.push(null);
      const { res, body: got } = await answer;
      assert.equal(res.headers['transfer-encoding'], 'chunked');
      assert.equal(got.replace(/></g, ''), '<onetwo>done'.replace(/></g, ''));
      assert.match(got, /^<one>.*done$/);
    } finally {
      await served.close();
    }
  });

  test('a stream begun with flushHeaders reaches the client before it ends; HEAD and 204 carry no body', async () => {
    let finish: (() => void) | undefined;
    const served = await serve((req, res) => {
      req.discard();
      if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.flushHeaders();
        finish = () => res.end('data: last\n\n');
        return;
      }
      res.writeHead(req.method === 'HEAD' ? 200 : 204, { 'x-kind': 'empty' }).end(req.method === 'HEAD' ? 'not sent' : undefined);
    });
    try {
      const streamed = new Promise<IncomingMessage>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: served.port, method: 'GET', path: '/stream', agent: false }, resolve);
        req.on('error', reject);
        req.end();
      });
      const res = await streamed;
      assert.equal(res.statusCode, 200, 'the head came before the body was ended');
      (finish as () => void)();
      assert.equal(await text(res), 'data: last\n\n');
      const head = await send(served.port, { method: 'HEAD' });
      assert.equal(head.body, '');
      const empty = await send(served.port, { method: 'DELETE' });
      assert.equal(empty.res.statusCode, 204);
      assert.equal(empty.body, '');
    } finally {
      await served.close();
    }
  });

  test('relays a stream into an answer, and ignores writes after its end', async () => {
    const served = await serve((req, res) => {
      req.discard();
      res.writeHead(200);
      const source = Readable.from(['a'.repeat(100_000), 'b'.repeat(100_000)]);
      res.relay(source);
      source.once('end', () => setImmediate(() => assert.equal(res.write('late'), false)));
    });
    try {
      const { body } = await send(served.port);
      assert.equal(body, 'a'.repeat(100_000) + 'b'.repeat(100_000));
    } finally {
      await served.close();
    }
  });

  test('an answer sent before its request body ended: the rest is dropped and the connection carries the next request', async () => {
    // Regression: the head promised keep-alive, then the connection was closed under the client's next call.
    const served = await serve((req, res) => {
      if (req.url === '/echo') {
        echo(req, res);
        return;
      }
      res.writeHead(413, { 'content-type': 'text/plain' }).end('too much');
    });
    const client = new Http1Client(netConnector({ host: '127.0.0.1', port: served.port }), { idleMs: 60_000, peer: 'the test server' });
    try {
      const early = await client.request({ path: '/big', headers: {}, body: Buffer.alloc(4 * 1024 * 1024, 'x') });
      assert.equal(early.statusCode, 413);
      assert.equal(early.whole?.toString(), 'too much');
      const next = await client.request({ path: '/echo', headers: {}, body: 'next' });
      assert.equal(JSON.parse(next.whole?.toString() ?? '').body, 'next');
      assert.equal(served.connections.length, 1, 'the same connection carried both');
    } finally {
      client.close();
      await served.close();
    }
  });

  test('a body read after the handler waited (its socket paused) leaves the connection ready for the next request', async () => {
    // Regression: the read that completed a body over the stream's buffer paused the socket, which nothing resumed.
    const served = await serve((req, res) => {
      setTimeout(() => echo(req, res), 50);
    });
    const client = new Http1Client(netConnector({ host: '127.0.0.1', port: served.port }), { idleMs: 60_000, peer: 'the test server' });
    try {
      for (const size of [80_000, 200_000, 10]) {
        const answer = await client.request({ path: '/echo', headers: {}, body: 'y'.repeat(size) });
        assert.equal(JSON.parse(answer.whole?.toString() ?? (await text(answer.body))).body.length, size);
      }
      assert.equal(served.connections.length, 1);
    } finally {
      client.close();
      await served.close();
    }
  });

  test('destroying an answer after it finished leaves its connection alone', async () => {
    const served = await serve((req, res) => {
      echo(req, res);
      res.once('close', () => res.destroy());
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 2; i++) assert.equal(JSON.parse((await send(served.port, { body: `b${i}`, agent })).body).body, `b${i}`);
      assert.equal(served.connections.length, 1);
    } finally {
      agent.destroy();
      await served.close();
    }
  });

  test("a client that leaves mid-request fails that request's body and closes its answer, and no other", async () => {
    const seen: Array<{ error: string; destroyed: boolean }> = [];
    const served = await serve((req, res) => {
      if (req.url === '/echo') {
        echo(req, res);
        return;
      }
      const closed = once(res, 'close');
      req.bytes(1 << 20).catch(async (error: Error) => {
        await closed;
        seen.push({ error: error.message, destroyed: res.destroyed });
      });
    });
    try {
      const socket = connect(served.port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write('POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{"half":');
      await new Promise((resolve) => setTimeout(resolve, 50));
      socket.destroy();
      for (let i = 0; i < 50 && seen.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(seen, [{ error: 'the client closed the connection before the request was complete', destroyed: true }]);
      assert.equal(JSON.parse((await send(served.port, { path: '/echo', body: 'ok' })).body).body, 'ok');
    } finally {
      await served.close();
    }
  });

  test('a head trickled a byte at a time is read as one; a header named __proto__ is a header like any other', async () => {
    const served = await serve(echo);
    try {
      const request = 'POST /t?q=1 HTTP/1.1\r\nhost: x\r\n__proto__: yes\r\nx-one: a\r\nx-one: b\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi';
      const socket = connect(served.port, '127.0.0.1');
      let received = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (received += chunk));
      await once(socket, 'connect');
      for (const byte of request) {
        socket.write(byte, 'latin1');
        await new Promise((resolve) => setImmediate(resolve));
      }
      await once(socket, 'close');
      assert.match(received, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(received, /\r\nconnection: close\r\n/);
      const body = JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4)) as { url: string; body: string; x: string[] };
      assert.deepEqual([body.url, body.body, body.x], ['/t?q=1', 'hi', ['a', 'b']]);
    } finally {
      await served.close();
    }
  });
});

describe('the HTTP/1.1 server against a client that breaks HTTP', () => {
  let handled = 0;
  const counting: Http1Handler = (req, res) => {
    handled++;
    echo(req, res);
  };

  test('a malformed request line, header or length gets a 400 and a closed connection, and reaches no handler', async () => {
    const served = await serve(counting);
    handled = 0;
    try {
      for (const bad of [
        'GET http://elsewhere/ HTTP/1.1\r\n\r\n',
        'POST /mcp HTTP/2.0\r\n\r\n',
        'POST /mcp HTTP/1.1\r\nbad header\r\n\r\n',
        'POST /mcp HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab',
        'POST /mcp HTTP/1.1\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n',
        'POST /mcp HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n',
        `POST /mcp HTTP/1.1\r\nx-big: ${'a'.repeat(70 * 1024)}\r\n\r\n`,
      ]) {
        const answer = await rawExchange(served.port, bad);
        assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n[^]*connection: close\r\n\r\nthe request broke HTTP\/1\.1: /, JSON.stringify(bad.slice(0, 60)));
      }
      assert.equal(handled, 0);
      assert.equal(JSON.parse((await send(served.port, { body: 'fine' })).body).body, 'fine', 'the server goes on');
    } finally {
      await served.close();
    }
  });

  test('a malformed chunk fails the request it belongs to with a 400; bytes sent ahead of an answer close the connection', async () => {
    const failures: string[] = [];
    const served = await serve((req, res) => {
      if (req.url === '/chunked') {
        req.bytes(1 << 20).catch((error: Error) => failures.push(error.message));
        return;
      }
      counting(req, res);
    });
    try {
      const chunked = await rawExchange(served.port, 'POST /chunked HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n4\r\nabcd\r\nzz\r\n');
      assert.match(chunked, /^HTTP\/1\.1 400 Bad Request\r\n[^]*a chunk size of "zz"/);
      for (let i = 0; i < 50 && failures.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.match(failures[0] ?? '', /^the request broke HTTP\/1\.1: a chunk size/);
      handled = 0;
      const pipelined = await rawExchange(served.port, 'POST /a HTTP/1.1\r\ncontent-length: 2\r\n\r\nhiPOST /b HTTP/1.1\r\n\r\n');
      assert.match(pipelined, /^HTTP\/1\.1 400 Bad Request\r\n[^]*bytes after the end of a message/);
      assert.equal(handled, 0);
    } finally {
      await served.close();
    }
  });

  test('a head that never ends is cut at the headers timeout; an idle connection at the idle timeout', async () => {
    const served = await serve(echo, { headersTimeoutMs: 100, idleMs: 1000 });
    try {
      const started = Date.now();
      assert.equal(await rawExchange(served.port, 'POST /mcp HTTP/1.1\r\nhost: x\r\n'), '');
      assert.ok(Date.now() - started < 900, 'the headers timeout, not the idle timeout, closed it');
      const answered = await rawExchange(served.port, 'POST /mcp HTTP/1.1\r\ncontent-length: 2\r\n\r\nok');
      assert.match(answered, /^HTTP\/1\.1 200 OK\r\n[^]*keep-alive: timeout=1\r\n/);
    } finally {
      await served.close();
    }
  });
});
