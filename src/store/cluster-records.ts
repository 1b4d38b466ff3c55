/**
 * What the nodes of a cluster keep in their shared store beside the control plane's records: who the nodes are,
 * with their leases, and the settings every node must agree on. Leases are judged by the store's clock alone, so
 * nodes need no clocks of their own in step.
 */

export type NodeState = 'live' | 'draining';

export interface NodeRecord {
  id: string;
  /** Where other nodes reach this one (`--advertise-url`). */
  url: string;
  state: NodeState;
  startedAt: string;
  /** When its lease runs out unless renewed. */
  leaseUntil: string;
  /** Whether the lease is still running by the store's clock. */
  leaseRunning: boolean;
  /** How many sessions it may hold, and holds. */
  capacity: number;
  sessions: number;
}

export interface NodeLoad {
  state: NodeState;
  sessions: number;
}

export interface ClusterRecords {
  /** Enters this node with a lease of `leaseMs` from now. */
  join(node: { id: string; url: string; capacity: number }, leaseMs: number): Promise<void>;
  /**
   * Renews the node's lease by `leaseMs` from now and records its load; false when the node is no longer a member
   * (it was taken for dead and removed), which it must take as the end of everything it owned.
   */
  renew(id: string, leaseMs: number, load: NodeLoad): Promise<boolean>;
  /** Takes the node out of the cluster. */
  leave(id: string): Promise<void>;
  /** Every member, live or not, by id. */
  nodes(): Promise<NodeRecord[]>;
  /**
   * The value of a setting every node must share (a key's fingerprint): set to `value` by the first node to ask,
   * and answered as stored ever after.
   */
  agree(name: string, value: string): Promise<string>;
  /** How many changes the control plane's records (runtimes, versions, endpoints, keys) have seen: it only rises. */
  controlChanges(): Promise<number>;
  /**
   * Records how many requests a second `node` has lately seen for each rate limit's key, and answers the live
   * nodes' recent demand for every key, summed: what each node takes its share of a limit from.
   */
  shareDemand(node: string, demand: ReadonlyMap<string, number>): Promise<Map<string, number>>;
}
