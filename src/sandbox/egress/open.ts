import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SandboxSpec } from '../driver.ts';
import { egressPort } from '../server-env.ts';
import { EgressPolicy } from './policy.ts';
import { EgressProxy } from './proxy.ts';

/** Where a sandbox sees its egress socket's directory. */
export const EGRESS_DIR_INSIDE = '/run/berth-egress';
const SOCKET = 'e.sock';

/**
 * Opens a sandbox's egress proxy when its runtime has an egress policy: a socket in `hostDir` (bound read-only into
 * the sandbox at EGRESS_DIR_INSIDE) owned by the sandbox's uid, and what the supervisor is told about it.
 */
export async function openEgress(
  spec: SandboxSpec,
  hostDir: string,
  owner: { uid: number; gid: number },
  berthPorts: readonly number[],
  onRefusal: (message: string) => void,
): Promise<{ proxy: EgressProxy; supervisor: { socket: string; port: number } } | undefined> {
  if (spec.network?.mode !== 'egress') return undefined;
  mkdirSync(hostDir, { mode: 0o755 });
  chmodSync(hostDir, 0o755);
  const proxy = await EgressProxy.open(join(hostDir, SOCKET), owner, new EgressPolicy(spec.network.allow, berthPorts), onRefusal);
  return { proxy, supervisor: { socket: `${EGRESS_DIR_INSIDE}/${SOCKET}`, port: egressPort(spec) } };
}
