import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkHost, plainHostName } from './host-check.ts';
import { isBerthError } from '../core/errors.ts';

const loopback = ['localhost', '127.0.0.1', '[::1]'];
const refusedWith = (status: number, headers: Record<string, string>, allowed: readonly string[] | '*' = loopback) =>
  assert.throws(
    () => checkHost(new Headers(headers), allowed),
    (e) => isBerthError(e) && e.status === status,
    JSON.stringify(headers),
  );
const refused = (headers: Record<string, string>) => refusedWith(403, headers);
/** A Host header that is not plain: refused as malformed (400) whatever hosts berth serves, even all of them. */
const malformed = (host: string) => {
  assert.equal(plainHostName(host), undefined, JSON.stringify(host));
  refusedWith(400, { host });
  refusedWith(400, { host }, '*');
};

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
  refused({ host: '127.0.0.1:8787', origin: 'http://127.0.0.1:8787@evil.example' });
  refused({});
});

test('any plain host is served when configured so', () => {
  checkHost(new Headers({ host: 'evil.example.com' }), '*');
  checkHost(new Headers({ host: 'berth_node_1:8787' }), '*');
  checkHost(new Headers({}), '*');
});

test('user info before an allowed host does not pass as that host', () => {
  malformed('127.0.0.1:8787@evil.example');
  malformed('127.0.0.1@evil.example');
  malformed('evil.example@127.0.0.1');
  malformed('localhost:80@evil.example:80');
  malformed('user:pass@localhost');
});

test('two ports, a bad port, an empty port or a path are refused', () => {
  malformed('127.0.0.1:8787:8787');
  malformed('localhost:99999');
  malformed('localhost:');
  malformed('localhost:80a');
  malformed('localhost:8787/evil');
  malformed('localhost#evil');
  malformed('localhost?x=1');
  malformed('localhost\\evil.example');
});

test('spaces, control characters and a second Host header joined in are refused', () => {
  malformed('127.0.0.1 :8787');
  malformed('127.0.0.1 evil.example');
  malformed('local\thost');
  malformed('127.0.0.1:8787, evil.example');
});

test('a trailing dot or an empty label is refused', () => {
  malformed('localhost.');
  malformed('localhost.:8787');
  malformed('.localhost');
  malformed('a..b');
  malformed('.');
});

test('percent-encoding and non-ASCII are refused', () => {
  malformed('%6cocalhost');
  malformed('127.0.0.1%2f@evil.example');
  malformed('[::1%25lo]');
  malformed('localh\u00f6st');
});

test('an empty or overlong Host is refused', () => {
  malformed('');
  malformed(`${'a'.repeat(64)}.example`);
  malformed(`${'a.'.repeat(127)}ab`);
  assert.equal(plainHostName(`${'a.'.repeat(126)}a`), `${'a.'.repeat(126)}a`, '253 characters is the longest name');
  const long = 'x'.repeat(10_000);
  assert.throws(
    () => checkHost(new Headers({ host: long }), loopback),
    (e) => isBerthError(e) && e.status === 400 && e.message.length < 400,
    'the error quotes only the start of an overlong header',
  );
});

test('IPv6 without brackets, or not IPv6 inside them, is refused', () => {
  malformed('::1');
  malformed('::1:8787');
  malformed('0:0:0:0:0:0:0:1');
  malformed('[::1');
  malformed('[:::]');
  malformed('[1.2.3.4]');
  malformed('[::1]8787');
  malformed('[::1]:8787:1');
});

test('a name the URL parser takes for a bad IPv4 address is refused', () => {
  malformed('999.1.1.1');
  malformed('1.2.3.4.5');
  malformed('example.0x');
});

test('case does not matter: an allowed host in capitals is served, a foreign one refused', () => {
  assert.equal(plainHostName('LocalHost:8787'), 'localhost');
  assert.equal(plainHostName('[::ABCD]:80'), '[::abcd]');
  checkHost(new Headers({ host: 'LOCALHOST:8787', origin: 'HTTP://LOCALHOST:8787' }), loopback);
  refused({ host: 'EVIL.EXAMPLE' });
  refused({ host: 'LOCALHOST', origin: 'http://EVIL.example' });
});

test('other spellings of an allowed address are plain but not served', () => {
  refused({ host: '127.1' });
  refused({ host: '2130706433' });
  refused({ host: '0x7f.0.0.1' });
  refused({ host: '[0:0:0:0:0:0:0:1]' });
});
