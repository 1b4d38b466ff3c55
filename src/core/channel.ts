/**
 * The contract between berth on the host and the supervisor inside a sandbox. The channel is HTTP over a Unix socket
 * that the supervisor listens on; the supervisor's stdout carries one JSON status message per line.
 */

/** Where MCP requests go: the body is one JSON-RPC message; the answer is JSON or SSE, streamed. */
export const CHANNEL_MCP_PATH = '/mcp';
/** Where an http agent's invocations go: the body and the answer stream through to the agent's `POST /invocations`. */
export const CHANNEL_INVOCATIONS_PATH = '/invocations';
/** Runs a shell command in the sandbox (see channel-commands.ts); every runtime serves it. */
export const CHANNEL_COMMANDS_PATH = '/commands';
/** A shell's WebSocket (`?id=SHELL`), upgraded on the channel. */
export const CHANNEL_SHELL_PATH = '/shell';
/** Liveness of the supervisor and the server it runs. */
export const CHANNEL_HEALTH_PATH = '/health';

/**
 * How long the host keeps an idle channel connection open. A session's next call finds its connection still open
 * minutes later, as a hot session's does, rather than connecting afresh; the supervisor keeps it a little longer
 * (CHANNEL_SERVER_IDLE_MS), so the host is always the one to close it and never sends on a connection being closed.
 */
export const CHANNEL_IDLE_MS = 300_000;
export const CHANNEL_SERVER_IDLE_MS = CHANNEL_IDLE_MS + 10_000;

/**
 * What the supervisor needs to serve the runtime's server, which the sandbox's launcher has already started beside
 * it (see src/sandbox/launcher.ts). Built by the host, passed as the supervisor's first argument, validated there.
 */
export interface SupervisorSpec {
  runtime: string;
  /** The runtime's start command, for messages. */
  command: string;
  /**
   * `mcp`: an MCP server; `http` and `agui`: an agent serving AgentCore's HTTP contract (`/invocations`, `/ping`,
   * `/ws`) on `port`; `a2a`: an A2A agent (JSON-RPC at `/`, its card at `/.well-known/agent-card.json`).
   */
  protocol: 'mcp' | 'http' | 'a2a' | 'agui';
  transport: 'stdio' | 'http';
  /** For `http`: where the server listens inside the sandbox. */
  port: number;
  path: string;
  /** For `stdio`: the FIFOs the launcher connected to the server's stdin and stdout. */
  stdinPath: string;
  stdoutPath: string;
  /**
   * A JSON file holding the server's environment, which commands run with (the supervisor's own is empty); read
   * once at start and removed.
   */
  envPath: string;
  /**
   * How the supervisor serves the channel: on the listening socket the host made and passed in as descriptor `fd`
   * (the host owns the socket file), or, where a sandbox cannot take a listening socket from its host (gVisor), by
   * dialling the host's socket at `dial` and serving each connection it opens, `spares` of them kept unused for the
   * host to take.
   */
  channel: { fd: number } | { dial: string; spares: number };
  /**
   * Under an egress policy: the supervisor listens on 127.0.0.1:`port` and passes each connection on, untouched, to
   * berth's egress proxy at the Unix socket `socket`, which decides where it may go.
   */
  egress?: { socket: string; port: number };
  /**
   * Set where the sandbox's kernel keeps no exit status in /proc (gVisor): the launcher writes the server's status
   * here when it exits, as a shell reports it (128 + N for signal N).
   */
  exitStatusPath?: string;
  /** Where node-pty is, as the supervisor requires it; without it the sandbox has no shells. */
  pty?: string;
  /** How long the server has to become ready before the supervisor gives up. */
  startTimeoutMs: number;
  /**
   * The runtime's warmup hook: a `POST` to `path` on `port` inside the sandbox, answered 2xx, before the sandbox is
   * ready (AgentCore's `hooksConfiguration.build.warmup`).
   */
  warmup?: { path: string; port: number };
  /** Asks a modern server one `server/discover` before ready, even when its revision is known (a pooled sandbox). */
  prime?: boolean;
  /** Which MCP revision the server speaks; `auto` asks it (`server/discover`). */
  era: 'auto' | 'modern' | 'legacy';
  /** How long a call waits for its client to answer the server's questions before berth cancels it. */
  inputTimeoutMs: number;
  /** What the supervisor keeps for the session's clients, at most. */
  perSession: SessionClientLimits;
  /**
   * Limits the supervisor watches from inside, where the host cannot see them: the workspace filling up (`workspace`,
   * its mount point), a process at its open-file limit (`openFiles`), the sandbox's task count at its limit (`pids`,
   * where no host cgroup counts the sandbox's own tasks). Each reaching its limit is reported once per crossing.
   */
  watch?: { workspace?: string; openFiles?: number; pids?: number };
}

/** berth's per-session caps the supervisor enforces (the `BERTH_SESSION_MAX_*` settings each names). */
export interface SessionClientLimits {
  /** Distinct resources the session's listen streams may subscribe to (`BERTH_SESSION_MAX_SUBSCRIPTIONS`). */
  subscriptions: number;
  /** Open `subscriptions/listen` streams (`BERTH_SESSION_MAX_LISTENERS`). */
  listeners: number;
  /** Calls waiting on their clients' answers at once (`BERTH_SESSION_MAX_PENDING_INPUT`). */
  pendingInputs: number;
}

/** AgentCore's limit for a warmup hook, which berth keeps: the hook's `POST` has this long to answer. */
export const WARMUP_TIMEOUT_MS = 120_000;

export type SupervisorStatus =
  | { type: 'ready'; serverPid: number; era: 'modern' | 'legacy' }
  /**
   * Work the host cannot see as requests in flight: calls whose clients owe answers to the server's questions
   * (`waiting`), or an http agent whose `/ping` says `HealthyBusy` (`busy`). While either holds, the session is not idle.
   */
  | { type: 'activity'; waiting: number; busy: boolean }
  | { type: 'failed'; code: 'server_start_timeout' | 'sandbox_failed'; message: string }
  | { type: 'server-exit'; exitCode: number | null; signal: string | null }
  /** One of the watched limits reached: how much is used (bytes, files or tasks) against `max`. */
  | { type: 'limit'; limit: 'workspace' | 'openFiles' | 'pids'; used: number; max: number };

/** The supervisor's stdout is untrusted (a hostile server shares the sandbox), so the host checks every field. */
export function parseSupervisorStatus(line: string): SupervisorStatus | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  switch (v.type) {
    case 'ready':
      return Number.isSafeInteger(v.serverPid) ? { type: 'ready', serverPid: v.serverPid as number, era: v.era === 'legacy' ? 'legacy' : 'modern' } : undefined;
    case 'activity':
      return Number.isSafeInteger(v.waiting) && (v.waiting as number) >= 0 && typeof v.busy === 'boolean'
        ? { type: 'activity', waiting: v.waiting as number, busy: v.busy }
        : undefined;
    case 'failed':
      return (v.code === 'server_start_timeout' || v.code === 'sandbox_failed') && typeof v.message === 'string'
        ? { type: 'failed', code: v.code, message: v.message.slice(0, 2000) }
        : undefined;
    case 'server-exit':
      return {
        type: 'server-exit',
        exitCode: Number.isSafeInteger(v.exitCode) ? (v.exitCode as number) : null,
        signal: typeof v.signal === 'string' ? v.signal.slice(0, 32) : null,
      };
    case 'limit':
      return (v.limit === 'workspace' || v.limit === 'openFiles' || v.limit === 'pids') && Number.isSafeInteger(v.used) && Number.isSafeInteger(v.max)
        ? { type: 'limit', limit: v.limit, used: v.used as number, max: v.max as number }
        : undefined;
    default:
      return undefined;
  }
}
