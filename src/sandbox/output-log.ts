/** One line a sandbox wrote (its server's stderr, an HTTP server's stdout, the supervisor's own notes). */
export interface OutputLine {
  at: string;
  line: string;
}

/**
 * A session's output, kept for `berth logs` and `GET /v1/sessions/{id}/logs`: the newest lines up to `maxBytes`
 * (oldest dropped first, and counted), so a chatty or hostile server costs bounded memory.
 */
export class OutputLog {
  readonly #maxBytes: number;
  #lines: OutputLine[] = [];
  #head = 0;
  #bytes = 0;
  #dropped = 0;

  readonly #secrets: readonly string[];

  /** `secrets`: values a line never keeps (a server that prints its own token), each shown as `(secret)`. */
  constructor(maxBytes: number, secrets: readonly string[] = []) {
    this.#maxBytes = maxBytes;
    // A value of a character or two would blot out ordinary output, and hides little.
    this.#secrets = secrets.filter((secret) => secret.length >= 4);
  }

  /** Keeps `line`, and answers it as kept, its secrets hidden: what may be shown anywhere else too. */
  push(line: string): string {
    let hidden = line;
    for (const secret of this.#secrets) if (hidden.includes(secret)) hidden = hidden.split(secret).join('(secret)');
    if (this.#maxBytes <= 0) {
      this.#dropped++;
      return hidden;
    }
    const text = hidden.length > this.#maxBytes ? hidden.slice(0, this.#maxBytes) : hidden;
    this.#lines.push({ at: new Date().toISOString(), line: text });
    this.#bytes += text.length;
    while (this.#bytes > this.#maxBytes) {
      const oldest = this.#lines[this.#head++] as OutputLine;
      this.#bytes -= oldest.line.length;
      this.#dropped++;
    }
    // Compact now and then rather than shifting on every drop.
    if (this.#head > 1024 && this.#head * 2 > this.#lines.length) {
      this.#lines = this.#lines.slice(this.#head);
      this.#head = 0;
    }
    return hidden;
  }

  /** The kept lines, oldest first, and how many older ones were dropped to keep within the bound. */
  read(): { lines: OutputLine[]; dropped: number } {
    return { lines: this.#lines.slice(this.#head), dropped: this.#dropped };
  }

  /** The last `count` lines' text, for error messages. */
  tail(count: number): string[] {
    return this.#lines.slice(Math.max(this.#head, this.#lines.length - count)).map((entry) => entry.line);
  }
}
