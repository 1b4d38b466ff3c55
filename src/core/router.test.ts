import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from './router.ts';
import { isBerthError } from './errors.ts';

test('matches params, refuses other methods with the allowed list, and unknown paths with 404', async () => {
  const ok = () => new Response('ok');
  const router = new Router().add({ method: 'GET', pattern: '/v1/sessions/:id', handler: ok }, { method: 'DELETE', pattern: '/v1/sessions/:id', handler: ok });
  assert.deepEqual(router.match('GET', '/v1/sessions/a%2Fb').params, { id: 'a/b' });
  assert.throws(
    () => router.match('POST', '/v1/sessions/x'),
    (e) => isBerthError(e) && e.status === 405 && /GET or DELETE/.test(e.message),
  );
  assert.throws(
    () => router.match('GET', '/v1/nope'),
    (e) => isBerthError(e) && e.status === 404,
  );
});
