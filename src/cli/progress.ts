import type { ShellTerminal } from './shell.ts';
import { Transform, type Readable } from 'node:stream';

/** Where the CLI writes: what it answers (stdout), what it says along the way (stderr), and whether stderr is a terminal. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** stderr is a terminal: progress redraws one line in place instead of adding lines. */
  tty?: boolean;
  /** Where `berth shell` reads keystrokes and writes output; the process's own terminal when unset. */
  terminal?: ShellTerminal;
}

/**
 * One line of progress on stderr for long work: redrawn in place on a terminal. Elsewhere (a script, CI) work that
 * ends within a couple of seconds says nothing, and longer work a line every few seconds and its end.
 */
export interface Progress {
  update(text: string): void;
  /** The last word: the line, finished. */
  done(text: string): void;
}

/** How often a line is written where it cannot be redrawn (a log, CI): often enough to show life, not to flood. */
const PLAIN_EVERY_MS = 5000;
const PLAIN_QUIET_MS = 2000;
const TTY_EVERY_MS = 100;

export function progress(io: Io): Progress {
  const started = performance.now();
  let last = -Infinity;
  let shown: string | undefined;
  const write = (text: string, final: boolean): void => {
    if (io.tty) io.err(`\r\x1b[2K${text}${final ? '\n' : ''}`);
    else if (final || text !== shown) io.err(`${text}\n`);
    shown = text;
  };
  return {
    update(text) {
      const now = performance.now();
      if (now - last < (io.tty ? TTY_EVERY_MS : PLAIN_EVERY_MS)) return;
      if (!io.tty && now - started < PLAIN_QUIET_MS) return;
      last = now;
      write(text, false);
    },
    done(text) {
      if (io.tty || shown !== undefined) write(text, true);
    },
  };
}

/** `body` as it streams out, its bytes counted into `progress`. */
export function counted(body: Readable, what: string, line: Progress): Readable {
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      line.update(`${what}: ${megabytes(bytes)}`);
      done(null, chunk);
    },
    flush(done) {
      line.done(`${what}: ${megabytes(bytes)}, sent`);
      done();
    },
  });
  body.on('error', (error) => counter.destroy(error));
  return body.pipe(counter);
}

/** Ticks `text` with the seconds taken while `work` runs, and says how long it took once it is done. */
export async function timedWork<T>(line: Progress, text: string, work: Promise<T>): Promise<T> {
  const started = performance.now();
  const seconds = (): string => `${Math.round((performance.now() - started) / 1000)} s`;
  const ticker = setInterval(() => line.update(`${text} (${seconds()})`), 1000);
  line.update(text);
  try {
    const value = await work;
    line.done(`${text}: done in ${seconds()}`);
    return value;
  } finally {
    clearInterval(ticker);
  }
}

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
