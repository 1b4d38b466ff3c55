import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rewriteCard } from './agent-card.ts';

const AT_BERTH = 'https://berth.example/runtimes/a2a/invocations';

test("an agent's own local URLs in its card become the runtime's URL at berth; others stay", () => {
  const card = {
    name: 'agent',
    url: 'http://0.0.0.0:9000/',
    additionalInterfaces: [{ url: 'http://localhost:9000/', transport: 'JSONRPC' }],
    supportedInterfaces: [
      { url: 'http://127.0.0.1:9000/a2a', protocolBinding: 'JSONRPC' },
      { url: 'https://elsewhere.example/a2a', protocolBinding: 'JSONRPC' },
    ],
    documentationUrl: 'http://localhost:9000/docs',
  };
  const rewritten = JSON.parse(rewriteCard(Buffer.from(JSON.stringify(card)), AT_BERTH).toString()) as typeof card;
  assert.equal(rewritten.url, AT_BERTH);
  assert.equal(rewritten.additionalInterfaces[0]?.url, AT_BERTH);
  assert.equal(rewritten.supportedInterfaces[0]?.url, AT_BERTH);
  assert.equal(rewritten.supportedInterfaces[1]?.url, 'https://elsewhere.example/a2a');
  assert.equal(rewritten.documentationUrl, 'http://localhost:9000/docs', 'only where clients call the agent');
});

test('a card that is not a JSON object passes as it came', () => {
  for (const text of ['not json', '[1,2]', '"a string"', 'null']) {
    assert.equal(rewriteCard(Buffer.from(text), AT_BERTH).toString(), text);
  }
});
