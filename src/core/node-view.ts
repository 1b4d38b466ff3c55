/** A node as `/v1/nodes` shows it: the one shape the node answers with and the CLI reads. */
export interface NodeView {
  id: string;
  /** Where the other nodes reach it (`--advertise-url`); a node alone, where it listens. */
  url: string;
  state: 'live' | 'draining';
  startedAt: string;
  /** When its lease runs out unless renewed; a node alone holds none. */
  leaseUntil?: string;
  /** Whether it is a live member: its lease runs (a node alone always is). */
  live: boolean;
  capacity: number;
  sessions: number;
  /** Whether it is the node that answered. */
  self: boolean;
}
