import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { MAX_SERVER_JSON_DEPTH } from '../mcp/jsonrpc.ts';
import { idOfCutMessage, parseServerMessage, ReadBudget, splitServerLines } from './server-messages.ts';

function nested(levels: number): string {
  return `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
}

async function split(max: number, chunks: string[]): Promise<string[]> {
  const stream = new PassThrough();
  const seen: string[] = [];
  splitServerLines(stream, max, {
    line: (text) => seen.push(`line:${text}`),
    overlong: (head, tail, bytes) => seen.push(`overlong:${bytes}:${head}|${tail}`),
  });
  for (const chunk of chunks) stream.write(chunk);
  stream.end();
  await new Promise((resolve) => stream.once('end', resolve));
  return seen;
}

test('lines split across chunks come out whole, CRLF trimmed, a last line without newline kept', async () => {
  assert.deepEqual(await split(100, ['ab', 'c\r\nde', 'f\n\n', 'tail']), ['line:abc', 'line:def', 'line:', 'line:tail']);
});

test('a line past the bound is given up whole, keeping its ends, and the next line is read as usual', async () => {
  const seen = await split(8, ['{"id":1,', 'xxxxxxxx', 'xxxx"id":7}\nnext\n']);
  // The head is what had come when the line outgrew the bound; the tail, its last bytes (here all of it).
  assert.deepEqual(seen, ['overlong:27:{"id":1,xxxxxxxx|{"id":1,xxxxxxxxxxxx"id":7}', 'line:next']);
});

test('a server that never writes a newline holds a bounded amount of memory', async () => {
  const stream = new PassThrough();
  let overlong: { head: string; tail: string; bytes: number } | undefined;
  splitServerLines(stream, 1024, { line: () => assert.fail('no line ends'), overlong: (head, tail, bytes) => (overlong = { head, tail, bytes }) });
  const chunk = 'x'.repeat(64 * 1024);
  for (let i = 0; i < 256; i++) stream.write(chunk);
  stream.end('"id":42}');
  await new Promise((resolve) => stream.once('end', resolve));
  assert.equal(overlong?.bytes, 256 * chunk.length + 8);
  assert.ok((overlong?.head.length ?? 0) <= 4096 && (overlong?.tail.length ?? 0) <= 4096);
  assert.ok(overlong?.tail.endsWith('"id":42}'));
});

test('the id of a message too large to read, from either end as SDKs write it', () => {
  assert.equal(idOfCutMessage('{"jsonrpc":"2.0","id":12,"result":{"content":[{"text":"xx', 'xx"}]}}'), 12);
  assert.equal(idOfCutMessage('{"result":{"content":[{"text":"xx', 'xx"}]},"jsonrpc":"2.0","id":9}'), 9);
  assert.equal(idOfCutMessage('{"result":{"x":"', 'xx","nested":{"id":3}}}'), undefined, "an id inside the result is not the message's");
  assert.equal(idOfCutMessage('garbage', 'garbage'), undefined);
});

test('a server message nested deeper than berth relays is refused, saying whose it was', () => {
  const deep = nested(MAX_SERVER_JSON_DEPTH + 10);
  assert.deepEqual(parseServerMessage(`{"jsonrpc":"2.0","id":5,"result":${deep}}`), {
    refused: `the server sent a message nested more than ${MAX_SERVER_JSON_DEPTH} levels deep, which berth does not relay`,
    id: 5,
    request: false,
  });
  const request = parseServerMessage(`{"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage","params":${nested(100_000)}}`);
  assert.ok('refused' in request && request.id === 's1' && request.request === true);
  const notification = parseServerMessage(`{"jsonrpc":"2.0","method":"notifications/message","params":${deep}}`);
  assert.ok('refused' in notification && notification.id === undefined);
  assert.ok('message' in parseServerMessage(`{"jsonrpc":"2.0","id":5,"result":${nested(MAX_SERVER_JSON_DEPTH - 2)}}`));
  assert.deepEqual(parseServerMessage('a log line'), { output: 'a log line' });
  assert.deepEqual(parseServerMessage('{"not":"json-rpc"}'), { output: '{"not":"json-rpc"}' });
});

test('servers read in one process share a budget: a line it cannot hold is given up, and what lines held comes back', async () => {
  const budget = new ReadBudget(256 * 1024);
  const big = 'x'.repeat(200 * 1024);
  const seen: string[] = [];
  const reader = (name: string): PassThrough => {
    const stream = new PassThrough();
    splitServerLines(
      stream,
      1024 * 1024,
      { line: (text) => seen.push(`${name} line ${text.length}`), overlong: (_head, _tail, bytes, why) => seen.push(`${name} ${why} ${bytes}`) },
      budget,
    );
    return stream;
  };
  const [one, two] = [reader('one'), reader('two')];
  // One's unfinished line takes 136 KiB of the budget (its first 64 KiB are free); two's cannot get 136 KiB more.
  one.write(big);
  two.write(`${big}\n`);
  one.write('\n');
  // With one's line over, its bytes are back, and two's next line of the same size fits.
  two.write(`${big}\n`);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(seen, [`two budget ${big.length}`, `one line ${big.length}`, `two line ${big.length}`]);
  // A stream that closes mid-line gives its bytes back too.
  one.write(big);
  one.destroy();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(budget.take(256 * 1024), true, 'the whole budget is free again');
});
