import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientSignal, withClientSignal } from './client-signal.ts';

test("a request the adapter made answers with the adapter's signal; any other with its own", () => {
  const controller = new AbortController();
  const recorded = withClientSignal(new Request('http://berth/x'), controller.signal);
  assert.equal(clientSignal(recorded), controller.signal);
  controller.abort();
  assert.equal(clientSignal(recorded).aborted, true);
  const own = new AbortController();
  const plain = new Request('http://berth/x', { signal: own.signal });
  own.abort();
  assert.equal(clientSignal(plain).aborted, true);
});
