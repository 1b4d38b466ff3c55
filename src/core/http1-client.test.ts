import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { after, describe, test } from 'node:test';
import { Http1Client, HttpProtocolError, netConnector } from './http1-client.ts';

const dir = mkdtempSync(join(tmpdir(), 'berth-channel-http-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let nextSocket = 0;

/** A server on a fresh Unix socket, and the client berth would use for it. */
async function listening(server: Server): Promise<{ client: Http1Client; connections: Socket[]; close: () => Promise<void> }> {
  const path = join(dir, `s${nextSocket++}.sock`);
  const connections: Socket[] = [];
  server.on('connection', (socket: Socket) => connections.push(socket));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const client = new Http1Client(netConnector({ path }), { idleMs: 60_000, peer: 'the test server' });
  return {
    client,
    connections,
    close: async () => {
      client.close();
      for (const socket of connections) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function http(handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  return createHttpServer({ keepAliveTimeout: 60_000 }, handler);
}

/** A server that answers every request with `answer`, as raw bytes, whatever it asked. */
function raw(answer: string | ((socket: Socket) => void)): Server {
  return createNetServer((socket) => {
    socket.once('data', () => (typeof answer === 'string' ? socket.write(answer) : answer(socket)));
    socket.on('error', () => {});
  });
}

const call = (client: Http1Client, body: string | Readable = '{}', signal?: AbortSignal) =>
  client.request({ path: '/mcp', headers: { 'content-type': 'application/json', 'x-one': ['a', 'b'] }, body, signal });

describe('the HTTP/1.1 client', () => {
  test('sends a whole body with its length and reads a whole answer; the connection carries the next call', async () => {
    const seen: Array<{ headers: IncomingMessage['headers']; body: string }> = [];
    const server = await listening(
      http((req, res) => {
        void text(req).then((body) => {
          seen.push({ headers: req.headers, body });
          const answer = `{"echo":${body}}`;
          res.writeHead(200, { 'content-type': 'application/json', 'x-two': 'c', 'content-length': answer.length }).end(answer);
        });
      }),
    );
    try {
      for (let i = 0; i < 3; i++) {
        const answer = await call(server.client, `{"n":${i}}`);
        assert.equal(answer.statusCode, 200);
        assert.equal(answer.headers['x-two'], 'c');
        assert.equal(answer.whole?.toString(), `{"echo":{"n":${i}}}`);
        assert.equal(await text(answer.body), `{"echo":{"n":${i}}}`);
      }
      assert.equal(server.connections.length, 1);
      assert.equal(seen[0]?.headers['content-length'], '7');
      assert.equal(seen[0]?.headers['x-one'], 'a, b');
    } finally {
      await server.close();
    }
  });

  test('streams a chunked answer as it comes, and a streamed body goes out chunked', async () => {
    let release: () => void = () => {};
    const server = await listening(
      http((req, res) => {
        void text(req).then((body) => {
          if (body === 'x') return void res.end('x');
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`data: ${body}\n\n`);
          release = () => res.end('data: last\n\n');
        });
      }),
    );
    try {
      const answer = await call(server.client, Readable.from([Buffer.from('ab'), Buffer.alloc(0), Buffer.from('cd')]));
      assert.equal(answer.whole, undefined);
      const chunks = answer.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      assert.equal(String((await chunks.next()).value), 'data: abcd\n\n');
      release();
      assert.equal(String((await chunks.next()).value), 'data: last\n\n');
      assert.equal((await chunks.next()).done, true);
      // The connection went back for the next call.
      assert.equal(await call(server.client, Readable.from([Buffer.from('x')])).then((next) => text(next.body)), 'x');
      assert.equal(server.connections.length, 1);
    } finally {
      await server.close();
    }
  });

  test('concurrent calls each get a connection; aborting one closes only its connection', async () => {
    const closed: string[] = [];
    const server = await listening(
      http((req, res) => {
        void text(req).then((body) => {
          res.on('close', () => closed.push(body));
          if (body === '"slow"') return;
          res.writeHead(200, { 'content-length': body.length }).end(body);
        });
      }),
    );
    try {
      const controller = new AbortController();
      const slow = call(server.client, '"slow"', controller.signal);
      const fast = await call(server.client, '"fast"');
      assert.equal(fast.whole?.toString(), '"fast"');
      assert.equal(server.connections.length, 2);
      controller.abort(new Error('the client went away'));
      await assert.rejects(slow, /the client went away/);
      await waitFor(() => closed.includes('"slow"'));
      assert.equal((await call(server.client, '"again"')).whole?.toString(), '"again"');
    } finally {
      await server.close();
    }
  });

  test('a reader that leaves an answer before its end closes its connection (the call is cancelled)', async () => {
    let gone = false;
    const server = await listening(
      http((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: 1\n\n');
        res.on('close', () => (gone = !res.writableFinished));
      }),
    );
    try {
      const answer = await call(server.client);
      await new Promise((resolve) => answer.body.once('data', resolve));
      answer.body.destroy();
      await waitFor(() => gone);
    } finally {
      await server.close();
    }
  });

  test('a body that fails fails the call with its own error', async () => {
    const server = await listening(http((req) => req.resume()));
    try {
      const failing = new Readable({ read() {} });
      const pending = call(server.client, failing);
      failing.destroy(new Error('past the limit'));
      await assert.rejects(pending, /past the limit/);
    } finally {
      await server.close();
    }
  });

  test('a header that would split the request is refused before anything is sent', async () => {
    const server = await listening(http((_req, res) => res.end()));
    try {
      await assert.rejects(server.client.request({ path: '/mcp', headers: { 'x-user': 'a\r\nx-admin: 1' }, body: '' }), /holds characters HTTP does not allow/);
      await assert.rejects(server.client.request({ path: '/mcp', headers: { 'bad name': 'a' }, body: '' }), /not a valid HTTP header name/);
      assert.equal(server.connections.length, 0);
    } finally {
      await server.close();
    }
  });

  test('any method: GET and DELETE without a body, HEAD whose answer has none whatever its length says', async () => {
    const seen: string[] = [];
    const server = await listening(
      http((req, res) => {
        seen.push(`${req.method} ${req.url} ${req.headers['content-length'] ?? '-'} ${req.headers['transfer-encoding'] ?? '-'} ${req.headers.host}`);
        req.resume();
        res.writeHead(200, { 'content-length': 5 }).end(req.method === 'HEAD' ? undefined : 'hello');
      }),
    );
    try {
      for (const method of ['GET', 'HEAD', 'DELETE']) {
        const answer = await server.client.request({ method, path: '/x?y=1', headers: { host: 'upstream:1' } });
        assert.equal(answer.headers['content-length'], '5');
        assert.equal(answer.whole?.toString(), method === 'HEAD' ? '' : 'hello');
      }
      assert.deepEqual(seen, ['GET /x?y=1 - - upstream:1', 'HEAD /x?y=1 - - upstream:1', 'DELETE /x?y=1 - - upstream:1']);
      assert.equal(server.connections.length, 1);
      await assert.rejects(server.client.request({ method: 'GET /', path: '/', headers: {} }), /not a valid HTTP request line/);
      await assert.rejects(server.client.request({ path: '/a b', headers: {} }), /not a valid HTTP request line/);
    } finally {
      await server.close();
    }
  });

  test('a streamed body whose length is given goes as it is; a quiet one still sends its head at once', async () => {
    const seen: string[] = [];
    const server = await listening(
      http((req, res) => {
        seen.push(`${req.headers['content-length'] ?? '-'} ${req.headers['transfer-encoding'] ?? '-'}`);
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.flushHeaders();
        void text(req).then((body) => res.end(body));
      }),
    );
    try {
      const sized = await server.client.request({ path: '/', headers: { 'content-length': '4' }, body: Readable.from([Buffer.from('ab'), Buffer.from('cd')]) });
      assert.equal(await text(sized.body), 'abcd');
      const quiet = new Readable({ read() {} });
      const answer = await server.client.request({ path: '/', headers: {}, body: quiet });
      assert.equal(answer.statusCode, 200);
      quiet.push('late');
      quiet.push(null);
      assert.equal(await text(answer.body), 'late');
      assert.deepEqual(seen, ['4 -', '- chunked']);
    } finally {
      await server.close();
    }
  });

  test("a peer's Keep-Alive timeout is kept: timeout=1 (or less) means the connection is not used again", async () => {
    const server = await listening(
      http((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-length': 2, 'keep-alive': 'timeout=1' }).end('ok');
      }),
    );
    try {
      await call(server.client);
      await call(server.client);
      assert.equal(server.connections.length, 2);
    } finally {
      await server.close();
    }
  });

  test("an early answer stops the body's reading without ending it: a proxied request keeps its own connection", async () => {
    // The supervisor's case: the body is another connection's request; the server answers 401 before reading it.
    const upstream = await listening(raw((socket) => socket.write('HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\n\r\nno')));
    const front = createHttpServer((req, res) => {
      void upstream.client
        .request({ path: '/', headers: { 'content-length': String(req.headers['content-length']) }, body: req, keepBody: true })
        .then((answer) => {
          res.writeHead(answer.statusCode, { 'content-length': 2 }).end(answer.whole);
        });
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    try {
      const port = (front.address() as { port: number }).port;
      const body = Buffer.alloc(512 * 1024, 120);
      const got = await new Promise<string>((resolve, reject) => {
        const req = httpRequest(
          { port, host: '127.0.0.1', method: 'POST', path: '/', headers: { 'content-length': body.length } },
          (res) => void text(res).then((answer) => resolve(`${res.statusCode} ${answer}`)),
        );
        req.on('error', reject);
        req.end(body);
      });
      assert.equal(got, '401 no');
    } finally {
      front.close();
      await upstream.close();
    }
  });

  test('an early answer ends a streamed body the call owns', async () => {
    const server = await listening(raw('HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\n\r\nno'));
    try {
      const body = new Readable({ read() {} });
      body.push('first');
      const answer = await call(server.client, body);
      assert.equal(answer.whole?.toString(), 'no');
      await waitFor(() => body.destroyed);
    } finally {
      await server.close();
    }
  });

  test('a request body that closes before its end fails the call rather than leaving it waiting', async () => {
    const server = await listening(http((req) => req.resume()));
    try {
      const body = new Readable({ read() {} });
      const pending = call(server.client, body);
      body.push('part');
      await waitFor(() => server.connections.length === 1);
      body.destroy();
      await assert.rejects(pending, /the request body closed before its end/);
    } finally {
      await server.close();
    }
  });

  test('close fails the calls in flight', async () => {
    const server = await listening(http((req) => req.resume()));
    try {
      const pending = call(server.client);
      await waitFor(() => server.connections.length === 1);
      server.client.close();
      await assert.rejects(pending, /the client was closed/);
      await assert.rejects(call(server.client), /the client was closed/);
    } finally {
      await server.close();
    }
  });
});

describe('the HTTP/1.1 client against a peer that breaks HTTP', () => {
  const hostile: Array<[string, string | ((socket: Socket) => void), RegExp]> = [
    ['a status line that is not HTTP', 'SSH-2.0-hello\r\n\r\n', /status line/],
    ['a head that never ends', (socket) => socket.write(`HTTP/1.1 200 OK\r\nx: ${'a'.repeat(70 * 1024)}`), /head longer than/],
    ['a header line without a colon', 'HTTP/1.1 200 OK\r\nnonsense\r\ncontent-length: 0\r\n\r\n', /header line/],
    ['both a length and chunks', 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n', /both a content-length/],
    ['two lengths that disagree', 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nab', /content-length of "3"/],
    ['a length that is not a number', 'HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n', /content-length/],
    ['an encoding other than chunked', 'HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n', /transfer-encoding/],
    ['a switch of protocols', 'HTTP/1.1 101 Switching\r\n\r\n', /switch of protocols/],
  ];
  for (const [name, answer, message] of hostile) {
    test(`${name}: the call fails, the connection closes, the next call works`, async () => {
      let served = 0;
      const server = await listening(
        createNetServer((socket) => {
          socket.on('error', () => {});
          socket.once('data', () => {
            if (served++ === 0) {
              if (typeof answer === 'string') socket.write(answer);
              else answer(socket);
            } else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
          });
        }),
      );
      try {
        const error = await call(server.client).then(
          (answer) => text(answer.body).then(() => undefined),
          (rejected: unknown) => rejected,
        );
        assert.ok(error instanceof HttpProtocolError, `expected a protocol error, got ${String(error)}`);
        assert.match(error.message, message);
        assert.equal((await call(server.client)).whole?.toString(), 'ok');
        assert.equal(server.connections.length, 2);
      } finally {
        await server.close();
      }
    });
  }

  test('headers named like Object.prototype fields are headers like any other; one length given twice is one length', async () => {
    const server = await listening(
      raw('HTTP/1.1 200 OK\r\n__proto__: a\r\nconstructor: b\r\nconstructor: c\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\nok'),
    );
    try {
      const answer = await call(server.client);
      assert.equal(answer.whole?.toString(), 'ok');
      assert.equal(answer.headers['content-length'], '2');
      assert.equal(Object.getOwnPropertyDescriptor(answer.headers, '__proto__')?.value, 'a');
      assert.deepEqual(answer.headers.constructor, ['b', 'c']);
    } finally {
      await server.close();
    }
  });

  test('a head and chunks trickled a byte at a time are read whole, each byte looked at once', async () => {
    const answer = `HTTP/1.1 200 OK\r\nx-pad: ${'p'.repeat(8 * 1024)}\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nx-trailer: t\r\n\r\n`;
    const server = await listening(
      raw((socket) => {
        let i = 0;
        const next = (): void => {
          // Several bytes per turn keep the test quick; each arrives in a read of its own.
          for (let n = 0; n < 64 && i < answer.length; n++) socket.write(answer[i++] as string);
          if (i < answer.length) setImmediate(next);
        };
        next();
      }),
    );
    try {
      const got = await call(server.client);
      assert.equal(await text(got.body), 'hello');
      assert.equal(String(got.headers['x-pad']).length, 8 * 1024);
    } finally {
      await server.close();
    }
  });

  test('trailers past the bound of a head fail the answer', async () => {
    const server = await listening(
      raw((socket) => {
        socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n');
        for (let i = 0; i < 40; i++) socket.write(`x-t${i}: ${'t'.repeat(2000)}\r\n`);
      }),
    );
    try {
      const answer = await call(server.client);
      await assert.rejects(text(answer.body), /trailers longer than/);
    } finally {
      await server.close();
    }
  });

  test("a body to the connection's end that ends in a reset is not whole", async () => {
    // TCP, whose reset a Unix socket cannot send.
    const server = createNetServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\n\r\npartial', () => setTimeout(() => socket.resetAndDestroy(), 20)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new Http1Client(netConnector({ host: '127.0.0.1', port: (server.address() as { port: number }).port }), {
      idleMs: 1000,
      peer: 'the test server',
    });
    try {
      const answer = await call(client);
      await assert.rejects(text(answer.body), /closed the connection before its answer was complete/);
    } finally {
      client.close();
      server.close();
    }
  });

  test('a malformed chunk and bytes after an answer fail the answer, not the node', async () => {
    for (const answer of [
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n',
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabXX',
      'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nabHTTP/1.1 200 OK\r\n\r\n',
    ]) {
      const server = await listening(raw(answer));
      try {
        const first = await call(server.client);
        if (first.whole) {
          // The answer itself was whole; the stray bytes close the connection so nothing reads them as the next answer.
          assert.equal(first.whole.toString(), 'ab');
          await waitFor(() => server.connections[0]?.destroyed === true || server.connections[0]?.readableEnded === true);
        } else await assert.rejects(text(first.body), HttpProtocolError);
      } finally {
        await server.close();
      }
    }
  });

  test('an answer cut short fails its reader; one that ends with its connection is whole', async () => {
    const cut = await listening(raw((socket) => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc')));
    try {
      const answer = await call(cut.client);
      await assert.rejects(text(answer.body), /the test server closed the connection before its answer was complete/);
    } finally {
      await cut.close();
    }
    const toClose = await listening(raw((socket) => socket.end('HTTP/1.1 200 OK\r\n\r\nall of it')));
    try {
      assert.equal(await text((await call(toClose.client)).body), 'all of it');
    } finally {
      await toClose.close();
    }
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(condition(), 'the condition did not come true within 2 s');
}
