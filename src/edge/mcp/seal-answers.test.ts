import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { RequestStateSealer } from '../../mcp/request-state.ts';
import { sseEvent } from '../../mcp/sse.ts';
import { sealEvents, sealJson, type Sealing } from './seal-answers.ts';

const sealer = new RequestStateSealer(randomBytes(32));
const binding = { session: 's'.repeat(40), runtime: 'r', principal: 'p', method: 'tools/call', name: 't', digest: 'd' };

function sealing(): Sealing & { bindings: number } {
  const made = { bindings: 0 } as Sealing & { bindings: number };
  made.sealer = sealer;
  made.ttlMs = 60_000;
  made.binding = () => {
    made.bindings++;
    return binding;
  };
  return made;
}

/** Feeds an SSE answer `text` in pieces of `size` characters and collects what comes out. */
async function run(text: string, size: number, how: Sealing): Promise<string> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(Buffer.from(text.slice(i, i + size)));
  const body = sealEvents(Readable.from(pieces), how);
  let out = '';
  for await (const chunk of body) out += Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk);
  return out;
}

const progress = sseEvent(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progress: 1 } }));
const question = sseEvent(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { resultType: 'input_required', inputRequests: {}, requestState: 'inner' } }));

test('an SSE answer: the input_required event is sealed however the stream is split, and the rest passes byte for byte', async () => {
  for (const size of [1, 3, 7, 64, 100_000]) {
    const how = sealing();
    const out = await run(`${progress}: comment\n\n${question}`, size, how);
    assert.ok(out.startsWith(`${progress}: comment\n\n`), `split ${size}`);
    const sealed = JSON.parse(out.slice(progress.length + ': comment\n\n'.length).replace(/^event: message\ndata: /, '')) as {
      result: { requestState: string };
    };
    assert.match(sealed.result.requestState, /^b1\./);
    assert.equal(sealer.open(sealed.result.requestState).inner, 'inner');
    assert.equal(how.bindings, 1);
  }
});

test('an SSE event too large to be a question streams through untouched, and the question after it is still sealed', async () => {
  const huge = sseEvent(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { data: 'x'.repeat(3 * 1024 * 1024) } }));
  const out = await run(`${huge}${question}`, 64 * 1024, sealing());
  assert.equal(out.slice(0, huge.length), huge);
  assert.match(out.slice(huge.length), /"requestState":"b1\./);
});

test('a JSON answer: complete results without resultType get it, and nothing is sealed unless asked for', async () => {
  const how = sealing();
  const out = sealJson(Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [] } })), how);
  assert.deepEqual(JSON.parse(out.toString('utf8')), { jsonrpc: '2.0', id: 1, result: { content: [], resultType: 'complete' } });
  assert.equal(how.bindings, 0, 'no binding (no digest of the arguments) is made for an answer that needs no seal');
});

test("a JSON answer's input_required requestState is sealed whole, bound once", () => {
  const how = sealing();
  const out = sealJson(
    Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { resultType: 'input_required', inputRequests: {}, requestState: 'inner' } })),
    how,
  );
  const sealed = JSON.parse(out.toString('utf8')) as { result: { requestState: string } };
  assert.equal(sealer.open(sealed.result.requestState).inner, 'inner');
  assert.equal(how.bindings, 1);
});
