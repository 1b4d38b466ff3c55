import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { specialKind } from './addresses.ts';
import { OutboundPolicy } from './outbound-policy.ts';

const BERTH = 7070;
const NO_LOCAL = new Set<string>();
const discovery = (host: string, scheme = 'https'): URL => new URL(`${scheme}://${host}/.well-known/openid-configuration`);

describe('OutboundPolicy', () => {
  const strict = new OutboundPolicy([], [BERTH]);

  test('every spelling of a loopback, link-local, private, shared, unspecified or reserved address is refused in a URL', () => {
    const spellings = [
      '127.0.0.1',
      '127.1',
      '127.0.1',
      '0x7f000001',
      '0x7f.0.0.1',
      '0177.0.0.1',
      '2130706433',
      '127.255.255.254',
      '[::1]',
      '[0:0:0:0:0:0:0:1]',
      '[::ffff:127.0.0.1]',
      '[::ffff:7f00:1]',
      '[::ffff:0:7f00:1]',
      '169.254.169.254',
      '0xa9fea9fe',
      '2852039166',
      '[::ffff:169.254.169.254]',
      '[fd00:ec2::254]',
      '10.0.0.1',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '100.64.0.1',
      '100.127.255.255',
      '0.0.0.0',
      '0',
      '[::]',
      '[fe80::1]',
      '[fc00::1]',
      '[fec0::1]',
      '224.0.0.1',
      '239.255.255.250',
      '255.255.255.255',
      '240.0.0.1',
      '[ff02::1]',
      '192.0.0.170',
      '198.18.0.1',
      '[64:ff9b::7f00:1]',
      '[64:ff9b::a9fe:a9fe]',
      '[2002:7f00:1::]',
      '[2002:a00:1::1]',
      '[::7f00:1]',
      '[100::1]',
      '[2001::1]',
      '[64:ff9b:1::1]',
    ];
    for (const host of spellings) {
      const refusal = strict.refusesUrl(discovery(host));
      assert.ok(refusal, `${host} is refused`);
      assert.match(refusal, /BERTH_OUTBOUND_ALLOW/, host);
    }
  });

  test('public https hosts, by address or name, are fetched from', () => {
    for (const host of [
      'idp.example.com',
      'login.microsoftonline.com',
      '93.184.216.34',
      '8.8.8.8',
      '[2606:4700::1111]',
      '[64:ff9b::808:808]',
      '172.32.0.1',
      '100.128.0.1',
      '[2001:db8::1]',
    ]) {
      assert.equal(strict.refusesUrl(discovery(host)), undefined, host);
    }
  });

  test('loopback names are refused without a lookup', () => {
    for (const host of ['localhost', 'LOCALHOST', 'localhost.', 'issuer.localhost']) {
      assert.match(strict.refusesUrl(discovery(host)) ?? '', /loopback name.*BERTH_OUTBOUND_ALLOW/, host);
    }
    assert.equal(new OutboundPolicy(['localhost'], []).refusesUrl(discovery('localhost')), undefined, 'unless listed');
  });

  test('plain http only to a listed host; other schemes never', () => {
    assert.match(strict.refusesUrl(discovery('idp.example.com', 'http')) ?? '', /plain http.*BERTH_OUTBOUND_ALLOW.*https/);
    assert.match(strict.refusesUrl(new URL('file:///etc/passwd')) ?? '', /file: URLs are not fetched/);
    assert.match(strict.refusesUrl(new URL('ftp://idp.example.com/x')) ?? '', /ftp: URLs are not fetched/);
    const listed = new OutboundPolicy(['idp.internal', '127.0.0.1/32'], []);
    assert.equal(listed.refusesUrl(discovery('idp.internal', 'http')), undefined);
    assert.equal(listed.refusesUrl(discovery('127.0.0.1:8080', 'http')), undefined);
    assert.ok(listed.refusesUrl(discovery('127.0.0.2:8080', 'http')), '127.0.0.2 is not in 127.0.0.1/32');
    assert.ok(listed.refusesUrl(discovery('localhost:8080', 'http')), 'a name is not allowed by an address range');
  });

  test('a listed range lets its addresses through, in every spelling, and no others', () => {
    const policy = new OutboundPolicy(['127.0.0.1/32', '10.1.0.0/16'], [BERTH]);
    for (const host of ['127.0.0.1', '127.1', '0x7f000001', '[::ffff:127.0.0.1]', '10.1.2.3'])
      assert.equal(policy.refusesUrl(discovery(host)), undefined, host);
    for (const host of ['127.0.0.2', '[::1]', '10.2.0.1', '169.254.169.254']) assert.ok(policy.refusesUrl(discovery(host)), host);
  });

  test("berth's own port on this host is refused whatever the list says", () => {
    const ports: number[] = [];
    const policy = new OutboundPolicy(['0.0.0.0/0', '::/0', 'idp.internal'], ports);
    assert.equal(policy.refusesUrl(discovery(`127.0.0.1:${BERTH}`)), undefined, 'berth does not listen yet');
    ports.push(BERTH);
    for (const host of ['127.0.0.1', '127.0.0.2', '0.0.0.0', '[::1]', '[::]', '[::ffff:127.0.0.1]']) {
      assert.match(policy.refusesUrl(discovery(`${host}:${BERTH}`)) ?? '', /berth's own/, host);
    }
    assert.match(
      policy.refusesAddress('idp.internal', '10.1.2.3', 'ipv4', BERTH, new Set(['10.1.2.3'])) ?? '',
      /idp.internal resolves to 10.1.2.3, which is this host, where port 7070 is berth's own/,
    );
    assert.equal(policy.refusesAddress('idp.internal', '10.9.9.9', 'ipv4', BERTH, new Set(['10.1.2.3'])), undefined, 'the same port elsewhere');
    assert.equal(policy.refusesUrl(discovery(`127.0.0.1:${BERTH + 1}`)), undefined, 'another port on a listed loopback');
    assert.match(new OutboundPolicy([], [443]).refusesUrl(discovery('127.0.0.1')) ?? '', /berth's own/, "https's default port counts");
  });

  test('addresses a name resolves to are judged like literal ones; a listed name may resolve anywhere but to berth', () => {
    for (const address of [
      '127.0.0.1',
      '::1',
      '::ffff:127.0.0.1',
      '169.254.169.254',
      'fd00:ec2::254',
      '100.64.0.1',
      '0.0.0.0',
      '::',
      'fe80::1',
      'fe80::1%eth0',
    ]) {
      const family = address.includes(':') ? 'ipv6' : 'ipv4';
      assert.match(
        strict.refusesAddress('idp.example.com', address, family, 443, NO_LOCAL) ?? '',
        new RegExp(
          `idp.example.com resolves to ${address.replace(/[.]/g, '\\.')}, which is a .* address, which berth fetches from only if BERTH_OUTBOUND_ALLOW lists it`,
        ),
        address,
      );
    }
    assert.equal(strict.refusesAddress('idp.example.com', '93.184.216.34', 'ipv4', 443, NO_LOCAL), undefined);
    const named = new OutboundPolicy(['*.corp.example'], [BERTH]);
    assert.equal(named.refusesAddress('idp.corp.example', '10.0.0.5', 'ipv4', 443, NO_LOCAL), undefined);
    assert.ok(named.refusesAddress('idp.example.com', '10.0.0.5', 'ipv4', 443, NO_LOCAL));
    assert.match(named.refusesAddress('idp.corp.example', '127.0.0.1', 'ipv4', BERTH, NO_LOCAL) ?? '', /berth's own/);
  });

  test('a bad BERTH_OUTBOUND_ALLOW entry stops berth, saying what an entry may be', () => {
    assert.throws(() => new OutboundPolicy(['https://idp.example.com'], []), /BERTH_OUTBOUND_ALLOW .*neither a host name .* nor an address range/);
    assert.throws(() => new OutboundPolicy(['10.0.0.0/33'], []), /BERTH_OUTBOUND_ALLOW .*prefix length/);
  });
});

test('specialKind names the kind, and an IPv6 form carrying an IPv4 address is that address', () => {
  assert.equal(specialKind('127.0.0.1', 'ipv4'), 'loopback');
  assert.equal(specialKind('::ffff:a9fe:a9fe', 'ipv6'), 'link-local');
  assert.equal(specialKind('64:ff9b::a00:1', 'ipv6'), 'private');
  assert.equal(specialKind('2002:c0a8:101::1', 'ipv6'), 'private');
  assert.equal(specialKind('::a00:1', 'ipv6'), 'reserved (IPv4-compatible IPv6)');
  assert.equal(specialKind('64:ff9b::808:808', 'ipv6'), undefined);
  assert.equal(specialKind('203.0.113.9', 'ipv4'), undefined);
});
