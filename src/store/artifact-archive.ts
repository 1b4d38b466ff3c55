import type { Readable } from 'node:stream';

/** An artifact's archive as the cluster keeps it: its bytes as a stream, their SHA-256 (hex) and length. */
export interface KeptArchive {
  sha256: string;
  bytes: number;
  body: Readable;
}

/**
 * Where a cluster keeps every artifact's archive (the tar a node unpacked it from), so that code deployed through
 * one node runs on every node: a node that lacks an artifact fetches its archive from here, checks it against its
 * digest, and unpacks it once into its own artifact directory.
 */
export interface ArtifactArchive {
  /** Keeps the archive in `file` as artifact `id`'s, unless one is kept already (the same bytes, by its name). */
  put(id: string, sha256: string, file: string): Promise<void>;
  /** The archive of artifact `id`, or undefined when the cluster keeps none. */
  get(id: string): Promise<KeptArchive | undefined>;
}
