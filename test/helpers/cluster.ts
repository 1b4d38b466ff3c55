import { randomBytes } from 'node:crypto';
import { packDirectory } from '../../src/cli/pack.ts';
import { startBerth, type BerthNode } from './berth.ts';
import { freePort } from './ports.ts';
import type { Postgres } from './postgres.ts';

/** The keys every node of one cluster is given. */
export function clusterSecrets(): Record<string, string> {
  return { BERTH_CLUSTER_KEY: randomBytes(32).toString('base64'), BERTH_SECRET_KEY: randomBytes(32).toString('base64') };
}

export interface JoinOptions {
  store: string;
  secrets: Record<string, string>;
  /** The cluster's admin key, for every node but the first (which makes it). */
  adminKey?: string;
  env?: Record<string, string>;
}

/** Starts a node of the cluster at `store` on a port of its own, which it advertises. */
export async function joinCluster({ store, secrets, adminKey, env = {} }: JoinOptions): Promise<BerthNode> {
  const port = await freePort();
  return startBerth({
    port,
    env: { BERTH_STORE_URL: store, BERTH_ADVERTISE_URL: `http://127.0.0.1:${port}`, ...secrets, ...env },
    ...(adminKey === undefined ? {} : { adminKey }),
  });
}

export interface Cluster {
  store: string;
  secrets: Record<string, string>;
  nodes: BerthNode[];
  /** Starts one more node of this cluster. */
  join(env?: Record<string, string>): Promise<BerthNode>;
  /** Uploads `dir` through the first node and answers its artifact id: the other nodes fetch it from the cluster. */
  upload(dir: string): Promise<string>;
  stop(): Promise<void>;
}

/** `size` nodes on a fresh database of `postgres`, each with `env`. */
export async function startCluster(postgres: Postgres, size: number, env: Record<string, string> = {}): Promise<Cluster> {
  const store = await postgres.database();
  const secrets = clusterSecrets();
  const nodes: BerthNode[] = [await joinCluster({ store, secrets, env })];
  const adminKey = nodes[0]?.adminKey;
  const join = async (more: Record<string, string> = {}): Promise<BerthNode> => {
    const node = await joinCluster({ store, secrets, ...(adminKey === undefined ? {} : { adminKey }), env: { ...env, ...more } });
    nodes.push(node);
    return node;
  };
  try {
    for (let i = 1; i < size; i++) await join();
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw error;
  }
  return {
    store,
    secrets,
    nodes,
    join,
    upload: async (dir) => (await (nodes[0] as BerthNode).api.uploadArtifact(packDirectory(dir))).artifactId,
    stop: async () => {
      await Promise.all(nodes.map((node) => node.stop()));
    },
  };
}
