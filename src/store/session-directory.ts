/**
 * The session directory of a cluster: which node holds each live session's sandbox, and since which takeover
 * (the epoch, raised on each). Nodes keep what they have seen of it, so a warm call asks nothing.
 */

export interface DirectoryEntry {
  session: string;
  runtime: string;
  /** The node holding the session's sandbox. */
  owner: string;
  /** Raised each time another node takes the session over; a request carrying an older one is misdirected. */
  epoch: number;
  /** Where the owner is reached, while it is a member. */
  ownerUrl?: string;
  /** Whether the owner's lease runs by the store's clock: an owner whose lease ran out may be taken over. */
  ownerLive: boolean;
  /** The runtime version and the principal's user id of the request that claimed it, when it said. */
  version?: number;
  principal?: string;
}

/** What a claim records of the session beside its owner: enough to say what was lost if the owner dies. */
export interface Holding {
  runtime: string;
  version?: number;
  principal?: string;
}

export type TakeOver = { taken: true; entry: DirectoryEntry } | { taken: false };

export interface SessionDirectoryRecords {
  /**
   * Claims `session` for `node` at epoch 1, or finds who holds it: of nodes racing on one new session, exactly one
   * wins, and the others get the winner's entry.
   */
  claim(session: string, holding: Holding, node: string): Promise<DirectoryEntry>;
  lookup(session: string): Promise<DirectoryEntry | undefined>;
  /**
   * Moves `session` to `node`, one epoch on, if it is still as `seen` and its owner's lease has run out; the dead
   * owner leaves the cluster with it.
   */
  takeOver(session: string, seen: DirectoryEntry, node: string, holding?: Holding): Promise<TakeOver>;
  /** Ends `node`'s holding of `session` at `epoch` (the session ended); false when it was no longer its. */
  release(session: string, node: string, epoch: number): Promise<boolean>;
  /** What `node` holds, by session id. */
  owned(node: string): Promise<DirectoryEntry[]>;
}
