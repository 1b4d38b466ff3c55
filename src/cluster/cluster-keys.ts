import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** The keys a node derives from the cluster key, each for one use, so that learning one gives away no other. */
export interface ClusterKeys {
  /** Seals requestState, so that any node opens what another sealed. */
  requestState: Buffer;
  /** The token one node shows another on the internal hop. */
  hopToken: string;
  /** What the store keeps to tell whether a node was given the cluster's key: not the key, nor anything that opens it. */
  fingerprint: string;
}

function derive(key: Buffer, use: string): Buffer {
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `berth cluster ${use}`, 32));
}

export function clusterKeys(clusterKey: Buffer): ClusterKeys {
  return {
    requestState: derive(clusterKey, 'request state'),
    hopToken: derive(clusterKey, 'node hop').toString('base64url'),
    fingerprint: createHmac('sha256', derive(clusterKey, 'fingerprint')).update('berth cluster key').digest('base64url'),
  };
}

/** Whether `given` is the hop token, compared in constant time. */
export function isHopToken(keys: ClusterKeys, given: string | null | undefined): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(keys.hopToken);
  return a.length === b.length && timingSafeEqual(a, b);
}
