import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBerthError } from '../../core/errors.ts';
import { acceptsEventStream, listenHeaders } from './listen-accept.ts';

test('an Accept admits an event stream by name, text/* or */*, never at quality 0', () => {
  for (const accept of ['text/event-stream', 'application/json, text/event-stream', 'TEXT/EVENT-STREAM', '*/*', 'text/*;q=0.5', 'image/png, */*; q=0.1'])
    assert.ok(acceptsEventStream(accept), accept);
  for (const accept of ['application/json', '', 'text/html', 'text/event-stream;q=0', '*/*; q=0', 'text/event-streams', 'application/*'])
    assert.ok(!acceptsEventStream(accept), accept);
});

test('a listen whose client refuses event streams is 406, not a JSON answer that never comes (found by the fuzzer)', () => {
  assert.throws(
    () => listenHeaders(new Headers({ accept: 'application/json' })),
    (error) =>
      isBerthError(error) && error.code === 'not_acceptable' && error.status === 406 && /Accept: application\/json, text\/event-stream/.test(error.message),
  );
});

test('a listen admitted by a wildcard, or without Accept, goes to its sandbox asking for an event stream', () => {
  for (const headers of [new Headers({ accept: '*/*', 'mcp-method': 'subscriptions/listen' }), new Headers({ 'mcp-method': 'subscriptions/listen' })]) {
    const out = listenHeaders(headers);
    assert.equal(out.get('accept'), 'application/json, text/event-stream');
    assert.equal(out.get('mcp-method'), 'subscriptions/listen');
  }
});
