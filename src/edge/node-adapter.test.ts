import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { Client } from 'undici';
import { createNodeServer } from './node-adapter.ts';
import { readRequestBody } from './node-bodies.ts';

test('an answer given before the request body was read does not stall the next request on the connection', { timeout: 20_000 }, async (t) => {
  const server = createNodeServer(async (request) => {
    if (request.method === 'POST') return new Response('refused', { status: 415 });
    return new Response('ok');
  }, () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const client = new Client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  t.after(() => client.close());
  const refused = await client.request({ path: '/', method: 'POST', body: Buffer.alloc(4 * 1024 * 1024, 1) });
  assert.equal(refused.statusCode, 415);
  assert.equal(await refused.body.text(), 'refused');
  const next = await client.request({ path: '/', method: 'GET' });
  assert.equal(next.statusCode, 200);
  assert.equal(await next.body.text(), 'ok');
});

test('streams an answer chunk by chunk and aborts the request signal when the client leaves', { timeout: 20_000 }, async (t) => {
  let aborted: () => void = () => {};
  const wasAborted = new Promise<void>((resolve) => (aborted = resolve));
  const server = createNodeServer(async (request) => {
    request.signal.addEventListener('abort', () => aborted());
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('first\n'));
      },
    });
    return new Response(body, { headers: { 'content-type': 'text/plain' } });
  }, () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const controller = new AbortController();
  const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { signal: controller.signal });
  const reader = response.body!.getReader();
  const { value } = await reader.read();
  assert.equal(new TextDecoder().decode(value), 'first\n');
  controller.abort();
  await wasAborted;
});

test('a request target that is not a path, or a malformed Host, gets a clear answer rather than a crash', { timeout: 20_000 }, async (t) => {
  const errors: unknown[] = [];
  const server = createNodeServer(async (request) => new Response(new URL(request.url).pathname), (error) => errors.push(error));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const raw = (text: string): Promise<string> =>
    new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.end(text));
      let out = '';
      socket.on('data', (chunk) => (out += chunk));
      socket.on('close', () => resolve(out));
    });
  assert.match(await raw('GET http://elsewhere/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 400/);
  const badHost = await raw('GET /fine HTTP/1.1\r\nHost: bad host/with?junk\r\nConnection: close\r\n\r\n');
  assert.match(badHost, /^HTTP\/1\.1 200/);
  assert.match(badHost, /\r\n\/fine\r\n/);
  assert.deepEqual(errors, []);
});

for (const handler of ['ignores the body', 'reads part of the body'] as const) {
  test(`a client still sending its body after an early answer (the handler ${handler}) finishes sending and keeps its connection`, { timeout: 20_000 }, async (t) => {
    const server = createNodeServer(async (request) => {
      if (request.method !== 'POST') return new Response('ok');
      if (handler === 'reads part of the body') await readRequestBody(request, 100 * 1024).catch(() => undefined);
      return new Response('too large', { status: 413 });
    }, () => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    const { port } = server.address() as AddressInfo;
    const chunk = `${(64 * 1024).toString(16)}\r\n${'a'.repeat(64 * 1024)}\r\n`;
    const socket = connect(port, '127.0.0.1');
    t.after(() => socket.destroy());
    const errors: Error[] = [];
    socket.on('error', (error) => errors.push(error));
    let answers = '';
    const seen = (text: string): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (!answers.includes(text)) return;
          socket.off('data', check);
          resolve();
        };
        socket.on('data', check);
        check();
      });
    socket.on('data', (data) => (answers += data));
    const write = (text: string): Promise<void> => new Promise((resolve, reject) => socket.write(text, (error) => (error ? reject(error) : resolve())));
    await write(`POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}${chunk}`);
    await seen('too large');
    assert.match(answers, /^HTTP\/1\.1 413/);
    // The rest of the body, sent after the answer arrived, as a client that writes its whole body before reading does.
    for (let i = 0; i < 4; i++) await write(chunk);
    await write('0\r\n\r\n');
    await write('GET /next HTTP/1.1\r\nHost: a\r\n\r\n');
    await seen('\r\nok');
    assert.match(answers, /HTTP\/1\.1 200/);
    assert.deepEqual(errors, []);
  });
}
