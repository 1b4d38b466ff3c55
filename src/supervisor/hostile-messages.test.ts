/**
 * The supervisor against hostile messages, without a sandbox: a modern stdio server (a fake, on in-memory pipes)
 * behind the real StdioPeer and StdioUpstream, served on a loopback port as the channel serves them. A client's
 * deep message, a server's deep or endless answer, a handler that throws: each costs that message only.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { serveHandler, type ServedHandler } from '../../test/helpers/channel-handler.ts';
import type { JsonRpcMessage } from '../mcp/jsonrpc.ts';
import { ListenerSlots } from './caps.ts';
import { serveClientMessage } from './response-writer.ts';
import { MAX_SERVER_MESSAGE_BYTES } from './server-messages.ts';
import { StdioPeer } from './stdio-peer.ts';
import { StdioUpstream } from './stdio-upstream.ts';

function nested(levels: number): string {
  return `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
}

/** A modern stdio server that answers each tool as a hostile one would, and keeps a counter. */
function fakeServer(stdin: PassThrough, stdout: PassThrough): void {
  let count = 0;
  let buffered = '';
  stdin.setEncoding('utf8');
  stdin.on('data', (chunk: string) => {
    buffered += chunk;
    for (let end = buffered.indexOf('\n'); end !== -1; end = buffered.indexOf('\n')) {
      const message = JSON.parse(buffered.slice(0, end)) as { id?: number; method: string; params?: { name?: string } };
      buffered = buffered.slice(end + 1);
      if (message.id === undefined || message.method !== 'tools/call') continue;
      const id = message.id;
      switch (message.params?.name) {
        case 'increment':
          stdout.write(`${JSON.stringify({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: String(++count) }] } })}\n`);
          break;
        case 'deep':
          stdout.write(`{"jsonrpc":"2.0","id":${id},"result":{"structuredContent":${nested(5000)}}}\n`);
          break;
        case 'deep_note':
          stdout.write(`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":${nested(5000)}}}\n`);
          stdout.write(`${JSON.stringify({ jsonrpc: '2.0', id, result: { content: [] } })}\n`);
          break;
        case 'huge': {
          const text = 'x'.repeat(MAX_SERVER_MESSAGE_BYTES + 1024);
          stdout.write(`{"result":{"content":[{"type":"text","text":"${text}"}]},"jsonrpc":"2.0","id":${id}}\n`);
          break;
        }
      }
    }
  });
}

describe('the supervisor against hostile messages', () => {
  const logs: string[] = [];
  let server: ServedHandler;
  let url: string;

  before(async () => {
    const serverIn = new PassThrough();
    const serverOut = new PassThrough();
    fakeServer(serverIn, serverOut);
    // As the supervisor wires them: the peer hands what the server sends unasked to the upstream made after it.
    let route: (message: JsonRpcMessage) => void = () => {};
    const peer = new StdioPeer(
      serverIn,
      serverOut,
      (message) => route(message),
      (line) => logs.push(line),
    );
    const upstream = new StdioUpstream({
      runtime: 'fake',
      peer,
      exited: new Promise(() => {}),
      listeners: new ListenerSlots(1),
      log: (line) => logs.push(line),
    });
    route = upstream.fromServer;
    server = await serveHandler(upstream.handle);
    url = server.url;
  });
  after(() => server.close());

  let nextId = 1;
  const call = async (name: string): Promise<{ status: number; code: string | null; body: string }> => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name, arguments: {} } });
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body });
    return { status: response.status, code: response.headers.get('x-berth-error'), body: await response.text() };
  };
  const count = async (): Promise<number> =>
    Number((JSON.parse((await call('increment')).body) as { result: { content: Array<{ text: string }> } }).result.content[0]?.text);

  test("a client's message nested 5 000 deep is refused with invalid_request, and the session goes on", async () => {
    assert.equal(await count(), 1);
    const deep = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"increment","arguments":${nested(5000)}}}`;
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: deep });
    assert.equal(response.status, 400);
    assert.equal(response.headers.get('x-berth-error'), 'invalid_request');
    assert.match(await response.text(), /nests more than 64 levels/);
    assert.equal(await count(), 2);
  });

  test("a server's answer nested 5 000 deep fails that call alone, saying why", async () => {
    const answer = await call('deep');
    assert.equal(answer.status, 502);
    assert.equal(answer.code, 'sandbox_failed');
    assert.match(answer.body, /nested more than 512 levels deep/);
    assert.ok(
      logs.some((line) => line.startsWith('berth: the server sent a message nested')),
      logs.join('\n'),
    );
    const note = await call('deep_note');
    assert.equal(note.status, 200, 'a deep notification is dropped, the answer after it arrives');
    assert.equal(await count(), 3);
  });

  test("a server's answer past the size bound fails that call alone", async () => {
    const answer = await call('huge');
    assert.equal(answer.code, 'sandbox_failed');
    assert.match(answer.body, new RegExp(`over the ${MAX_SERVER_MESSAGE_BYTES} berth reads whole`));
    assert.equal(await count(), 4);
  });

  test('a listen stream past the cap is refused with limit_exceeded naming the setting; one that ends frees its place', async () => {
    const listen = (id: string, signal?: AbortSignal) =>
      fetch(url, {
        method: 'POST',
        signal,
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id, method: 'subscriptions/listen', params: { notifications: { toolsListChanged: true } } }),
      });
    const first = new AbortController();
    // The fake server never answers a listen: the stream stays open, as a real one does.
    void listen('l1', first.signal).catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = await listen('l2');
    assert.equal(second.status, 429);
    assert.equal(second.headers.get('x-berth-error'), 'limit_exceeded');
    assert.match(await second.text(), /BERTH_SESSION_MAX_LISTENERS/);
    first.abort();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const third = new AbortController();
    const reopened = listen('l3', third.signal);
    const outcome = await Promise.race([reopened.then((response) => response.status), new Promise((resolve) => setTimeout(() => resolve('open'), 300))]);
    assert.equal(outcome, 'open', 'the freed place takes a new stream');
    third.abort();
    await reopened.catch(() => {});
  });
});

test('a handler that throws answers its request with an error and logs why; the supervisor goes on', async () => {
  const logs: string[] = [];
  const server = await serveHandler((req, res) =>
    serveClientMessage(
      req,
      res,
      (line) => logs.push(line),
      () => {
        throw new RangeError('Maximum call stack size exceeded');
      },
    ),
  );
  try {
    const url = server.url;
    for (let i = 0; i < 2; i++) {
      const response = await fetch(url, { method: 'POST', body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' });
      assert.equal(response.status, 502);
      assert.equal(response.headers.get('x-berth-error'), 'sandbox_failed');
      assert.match(await response.text(), /could not handle this request \(Maximum call stack size exceeded\); the session and its other calls go on/);
    }
    assert.equal(logs.length, 2);
    assert.match(logs[0] ?? '', /^berth: the supervisor failed while handling a client's message/);
  } finally {
    server.close();
  }
});
