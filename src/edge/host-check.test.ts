import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkHost } from './host-check.ts';
import { isBerthError } from '../core/errors.ts';

const loopback = ['localhost', '127.0.0.1', '[::1]'];
const refused = (headers: Record<string, string>) =>
  assert.throws(() => checkHost(new Headers(headers), loopback), (e) => isBerthError(e) && e.status === 403);

test('loopback hosts and origins, with any port, are served', () => {
  checkHost(new Headers({ host: '127.0.0.1:8787', origin: 'http://127.0.0.1:8787' }), loopback);
  checkHost(new Headers({ host: 'localhost' }), loopback);
  checkHost(new Headers({ host: '[::1]:9000', origin: 'http://[::1]:9000' }), loopback);
});

test('a rebinding host or a foreign origin is refused', () => {
  refused({ host: 'evil.example.com', origin: 'http://evil.example.com' });
  refused({ host: 'evil.example.com' });
  refused({ host: '127.0.0.1:8787', origin: 'http://evil.example.com' });
  refused({ host: '127.0.0.1:8787', origin: 'not a url' });
});

test('any host is served when configured so', () => {
  checkHost(new Headers({ host: 'evil.example.com' }), '*');
});
