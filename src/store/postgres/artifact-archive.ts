import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { ArtifactArchive, KeptArchive } from '../artifact-archive.ts';
import type { SqlDatabase } from '../sql/database.ts';

/** An archive is kept in pieces of this size: one row each, read back one at a time. */
const CHUNK_BYTES = 1024 * 1024;

/**
 * Artifact archives on PostgreSQL, in chunks of a megabyte, so that neither writing nor reading one holds more than
 * a chunk in memory. An archive is written in one transaction: no node sees part of one, and of nodes keeping the
 * same artifact at once one writes it and the others find it kept.
 */
export class PostgresArtifactArchive implements ArtifactArchive {
  readonly #db: SqlDatabase;

  constructor(db: SqlDatabase) {
    this.#db = db;
  }

  async put(id: string, sha256: string, file: string): Promise<void> {
    const { size } = statSync(file);
    await this.#db.transaction(async (tx) => {
      const fresh = await tx.run('INSERT INTO artifact_archives (id, sha256, bytes) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING', [id, sha256, size]);
      if (fresh === 0) return;
      const fd = openSync(file, 'r');
      try {
        const chunk = Buffer.alloc(CHUNK_BYTES);
        for (let seq = 0, at = 0; at < size; seq++) {
          const read = readSync(fd, chunk, 0, CHUNK_BYTES, at);
          if (read === 0) throw new Error(`the archive of ${id} ended at ${at} of its ${size} bytes`);
          await tx.run('INSERT INTO artifact_chunks (id, seq, data) VALUES (?, ?, ?)', [id, seq, chunk.subarray(0, read)]);
          at += read;
        }
      } finally {
        closeSync(fd);
      }
    });
  }

  async get(id: string): Promise<KeptArchive | undefined> {
    const row = await this.#db.get('SELECT sha256, bytes FROM artifact_archives WHERE id = ?', [id]);
    if (!row) return undefined;
    const bytes = Number(row.bytes);
    const chunks = Math.ceil(bytes / CHUNK_BYTES);
    const db = this.#db;
    let seq = 0;
    const body = new Readable({
      read() {
        if (seq >= chunks) {
          this.push(null);
          return;
        }
        db.get('SELECT data FROM artifact_chunks WHERE id = ? AND seq = ?', [id, seq++]).then(
          (chunk) => (chunk && Buffer.isBuffer(chunk.data) ? this.push(chunk.data) : this.destroy(new Error(`the archive of ${id} lacks chunk ${seq - 1}`))),
          (error: unknown) => this.destroy(error as Error),
        );
      },
    });
    return { sha256: String(row.sha256), bytes, body };
  }
}
