/**
 * What berth and its slot factory (slot-factory-main.ts) say to each other over the factory's IPC channel. Every
 * message names the shell it is about by the number berth gave it when it asked for it (`shell`).
 */

/** berth → factory. */
export type FactoryRequest =
  /**
   * Starts `/bin/sh` as `uid` with `argv` and an empty environment. Its descriptors: 0–2 pipes handed to berth, 3 the
   * seccomp filter read from `seccompPath`, 5 a Unix socket listening at `channelPath` (made here), and pipes 4 (bwrap's
   * options), 6 (the server's environment), 7 (berth's lines to the shell) and 8 (its lines to berth), which the
   * factory keeps and relays.
   */
  | { op: 'start'; shell: number; uid: number; argv: string[]; seccompPath: string; channelPath: string }
  /** Writes bwrap's options and the environment file and ends both; sends `go` and ends descriptor 7 unless `talk`. */
  | { op: 'launch'; shell: number; args: string; env: string; talk: boolean }
  /** One more line on descriptor 7. */
  | { op: 'tell'; shell: number; line: string }
  | { op: 'kill'; shell: number; signal: NodeJS.Signals };

/** factory → berth. */
export type FactoryEvent =
  /** The factory runs and takes requests. */
  | { ev: 'ready' }
  /** The shell runs; its descriptors 0, 1 and 2 follow, one message each with the pipe as its handle. */
  | { ev: 'started'; shell: number; pid: number }
  | { ev: 'stdio'; shell: number; fd: 0 | 1 | 2 }
  /** The shell could not be started. */
  | { ev: 'failed'; shell: number; message: string }
  /** A line the shell wrote on descriptor 8, and the end of them. */
  | { ev: 'line'; shell: number; line: string }
  | { ev: 'lines-end'; shell: number }
  | { ev: 'exit'; shell: number; code: number | null; signal: NodeJS.Signals | null };

/** The longest line a shell writes berth on descriptor 8: a word, or an exit status. */
export const MAX_SHELL_LINE = 64;
