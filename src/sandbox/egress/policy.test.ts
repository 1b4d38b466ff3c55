import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EgressPolicy, plainAddress } from './policy.ts';

const LOCAL = new Set(['127.0.0.1', '::1', '10.1.2.3']);
const BERTH = 8080;

/** What the proxy decides for an address a listed name resolved to: the refusal, or undefined to connect. */
function judge(policy: EgressPolicy, address: string, port: number): string | undefined {
  const plain = plainAddress(address, address.includes(':') ? 'ipv6' : 'ipv4');
  return policy.refusesAddress(plain.address, plain.family) ?? policy.refusesPort(plain.address, plain.family, port, LOCAL);
}

describe('EgressPolicy', () => {
  test('a name must be listed, exactly or under a listed suffix', () => {
    const policy = new EgressPolicy(['api.example.com', '*.example.org']);
    assert.equal(policy.refusesName('api.example.com'), undefined);
    assert.equal(policy.refusesName('API.Example.com.'), undefined);
    assert.equal(policy.refusesName('a.b.example.org'), undefined);
    assert.match(policy.refusesName('example.org') ?? '', /not on this runtime's egress allowlist/);
    assert.match(policy.refusesName('evil-example.org') ?? '', /not on this runtime's egress allowlist/);
    assert.match(policy.refusesName('api.example.com.evil.net') ?? '', /not on this runtime's egress allowlist/);
    assert.match(policy.refusesName('203.0.113.9') ?? '', /not in a range/);
  });

  test('loopback, link-local, private and unspecified addresses are refused behind a listed name, in every spelling', () => {
    const policy = new EgressPolicy(['api.example.com']);
    for (const address of [
      '127.0.0.1',
      '127.9.9.9',
      '169.254.169.254',
      '10.0.0.7',
      '172.20.1.1',
      '192.168.1.1',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '0:0:0:0:0:ffff:a9fe:a9fe',
      '::ffff:10.0.0.7',
    ]) {
      assert.ok(judge(policy, address, 443), `${address} is refused`);
    }
    assert.equal(judge(policy, '203.0.113.9', 443), undefined);
    assert.equal(judge(policy, '2001:db8::1', 443), undefined);
  });

  test('a listed range lets its special addresses through, in IPv4-mapped spelling too', () => {
    const policy = new EgressPolicy(['10.0.0.0/8', '169.254.169.254']);
    assert.equal(judge(policy, '10.9.9.9', 443), undefined);
    assert.equal(judge(policy, '::ffff:10.9.9.9', 443), undefined);
    assert.equal(judge(policy, '::ffff:a9fe:a9fe', 80), undefined);
    assert.ok(judge(policy, '192.168.1.1', 443));
  });

  test("berth's own ports are refused on every address that reaches this host, whatever the list says", () => {
    const policy = new EgressPolicy(['0.0.0.0/0', '::/0'], [BERTH]);
    for (const address of ['127.0.0.1', '127.0.0.2', '0.0.0.0', '10.1.2.3', '::1', '::', '::ffff:127.0.0.1', '::ffff:a01:203', '::ffff:0.0.0.0']) {
      assert.match(judge(policy, address, BERTH) ?? '', /berth's own/, address);
    }
    assert.equal(judge(policy, '127.0.0.1', BERTH + 1), undefined, 'another port on a listed loopback');
    assert.equal(judge(policy, '203.0.113.9', BERTH), undefined, 'the same port elsewhere');
  });

  test('plainAddress turns IPv4-mapped addresses into IPv4 and leaves others alone', () => {
    assert.deepEqual(plainAddress('::ffff:7f00:1', 'ipv6'), { address: '127.0.0.1', family: 'ipv4' });
    assert.deepEqual(plainAddress('0:0:0:0:0:FFFF:192.0.2.1', 'ipv6'), { address: '192.0.2.1', family: 'ipv4' });
    assert.deepEqual(plainAddress('2001:db8::ffff:1:2', 'ipv6'), { address: '2001:db8::ffff:1:2', family: 'ipv6' });
    assert.deepEqual(plainAddress('192.0.2.1', 'ipv4'), { address: '192.0.2.1', family: 'ipv4' });
  });
});
