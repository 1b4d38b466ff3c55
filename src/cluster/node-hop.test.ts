import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { clusterKeys } from './cluster-keys.ts';
import { HOP_HEADER, HOP_PRINCIPAL_HEADER, NodeHop } from './node-hop.ts';

const keys = clusterKeys(randomBytes(32));
const hop = new NodeHop(keys);
const encoded = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const request = (headers: Record<string, string>) => ({ headers: new Headers(headers) });

test("a forwarded request's principal is taken only from a node of the cluster, and only as a node sends it", () => {
  const principal = { key: 'apiKey:alice', userId: 'alice' };
  assert.deepEqual(hop.principalOf(request({ [HOP_HEADER]: keys.hopToken, [HOP_PRINCIPAL_HEADER]: encoded(principal) })), principal);
  // A client's claim to be a node, or to be someone, is a client's: nobody is vouched for.
  assert.equal(hop.principalOf(request({ [HOP_PRINCIPAL_HEADER]: encoded(principal) })), undefined);
  assert.equal(hop.principalOf(request({ [HOP_HEADER]: 'forged', [HOP_PRINCIPAL_HEADER]: encoded(principal) })), undefined);
  const otherCluster = clusterKeys(randomBytes(32)).hopToken;
  assert.equal(hop.principalOf(request({ [HOP_HEADER]: otherCluster, [HOP_PRINCIPAL_HEADER]: encoded(principal) })), undefined);
  // A node's token with no principal, or one that is not what a node sends, vouches for nobody either.
  assert.equal(hop.principalOf(request({ [HOP_HEADER]: keys.hopToken })), undefined);
  for (const bad of ['%%%', encoded(null), encoded({ key: 1, userId: 'x' }), encoded(['key']), Buffer.from('{"key":').toString('base64url')]) {
    assert.equal(hop.principalOf(request({ [HOP_HEADER]: keys.hopToken, [HOP_PRINCIPAL_HEADER]: bad })), undefined, bad);
  }
});
