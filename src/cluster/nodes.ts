import type { NodeView } from '../core/node-view.ts';
import type { ClusterRecords } from '../store/cluster-records.ts';

export type { NodeView };

/** Every node of the cluster by id; or this node alone, when it has no cluster. */
export interface NodeDirectory {
  list(): Promise<NodeView[]>;
}

/** The nodes of a cluster, as its store knows them. */
export function clusterNodes(records: ClusterRecords, selfId: () => string): NodeDirectory {
  return {
    list: async () => (await records.nodes()).map(({ leaseRunning, ...node }): NodeView => ({ ...node, live: leaseRunning, self: node.id === selfId() })),
  };
}

/** A node with no cluster: it alone. */
export function soloNode(self: () => Omit<NodeView, 'live' | 'self'>): NodeDirectory {
  return {
    list: async () => [{ ...self(), live: true, self: true }],
  };
}
