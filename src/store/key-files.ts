import { randomBytes } from 'node:crypto';
import { linkSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SecretBox } from '../core/secret-box.ts';

/** What the secret key's check file holds, sealed: it opens only under the key the home's secrets are sealed with. */
const CHECK = 'berth secret key check';

/**
 * berth's key files in `<home>/keys/`: owner-only (a file or directory others may read is refused, not used), each
 * written whole or not at all (a temporary file, then a link or rename), and made once even when two starts race.
 */
export class KeyFiles {
  readonly #dir: string;

  constructor(home: string) {
    this.#dir = join(home, 'keys');
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    closedToOthers(this.#dir, 'directory');
  }

  path(name: string): string {
    return join(this.#dir, name);
  }

  /** The file's bytes, or undefined when there is none. */
  read(name: string): Buffer | undefined {
    const file = this.path(name);
    try {
      closedToOthers(file, 'file');
      return readFileSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** Writes the file whole, in place of any before it. */
  write(name: string, content: string | Buffer): void {
    const temporary = this.#temporary(content);
    renameSync(temporary, this.path(name));
  }

  /** The file's bytes, made by `make` when there is none; a start that loses the race to make it reads the winner's. */
  readOrMake(name: string, make: () => string | Buffer): Buffer {
    const found = this.read(name);
    if (found) return found;
    const temporary = this.#temporary(make());
    try {
      linkSync(temporary, this.path(name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      rmSync(temporary, { force: true });
    }
    return this.read(name) as Buffer;
  }

  /** The key that seals secrets at rest: the configured one, else this home's, made on first start. */
  secretKey(configured: Buffer | undefined): Buffer {
    const key = configured ?? this.readOrMake('secret.key', () => randomBytes(32));
    if (key.length !== 32) throw new Error(`${this.path('secret.key')} is not a 32-byte key; restore it, or set BERTH_SECRET_KEY to the key it held`);
    return key;
  }

  /**
   * Refuses a secret key other than the one this home's secrets were sealed with (a changed BERTH_SECRET_KEY, a
   * lost key file), at start rather than at every session that needs a secret.
   */
  checkSecretKey(box: SecretBox): void {
    const sealed = this.readOrMake('secret.check', () => box.seal(CHECK, 'berth/key/check'));
    if (box.open(sealed.toString('utf8'), 'berth/key/check')?.toString('utf8') !== CHECK) {
      throw new Error(
        `the secret key is not the one this home's secrets are sealed with (${this.path('secret.check')} does not open): restore BERTH_SECRET_KEY or keys/secret.key`,
      );
    }
  }

  /**
   * A 32-byte key kept sealed under the secret key, made on first start. A file from before keys were sealed holds
   * the raw key: it is sealed in place.
   */
  sealedKey(name: string, box: SecretBox): Buffer {
    const context = `berth/key/${name}`;
    const stored = this.readOrMake(name, () => box.seal(randomBytes(32), context));
    if (stored.length === 32) {
      this.write(name, box.seal(stored, context));
      return stored;
    }
    const key = box.open(stored.toString('utf8').trim(), context);
    if (key?.length !== 32) throw new Error(`${this.path(name)} does not open with berth's secret key: was BERTH_SECRET_KEY or keys/secret.key changed?`);
    return key;
  }

  #temporary(content: string | Buffer): string {
    const temporary = join(this.#dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    writeFileSync(temporary, content, { mode: 0o600, flag: 'wx' });
    return temporary;
  }
}

/** A key file or its directory: this user's, a real file or directory, and closed to everyone else. */
function closedToOthers(path: string, kind: 'file' | 'directory'): void {
  const stat = lstatSync(path);
  const real = kind === 'file' ? stat.isFile() : stat.isDirectory();
  if (!real || stat.uid !== process.getuid?.() || (stat.mode & 0o077) !== 0) {
    throw new Error(
      `${path} must be a ${kind} of this user's that no one else may read or write (mode ${(stat.mode & 0o777).toString(8)}): chmod ${kind === 'file' ? 600 : 700} it, or restore it`,
    );
  }
}
