/**
 * The contract between berth on the host and the supervisor inside a sandbox. The channel is HTTP over a Unix socket
 * that the supervisor listens on; the supervisor's stdout carries one JSON status message per line.
 */

/** Where MCP requests go: the body is one JSON-RPC message; the answer is JSON or SSE, streamed. */
export const CHANNEL_MCP_PATH = '/mcp';
/** Liveness of the supervisor and the server it runs. */
export const CHANNEL_HEALTH_PATH = '/health';

/** Everything the supervisor needs to start the user's server; built by the host, validated by the supervisor. */
export interface SupervisorSpec {
  runtime: string;
  /** The runtime's start command, run in `cwd`. */
  command: string;
  transport: 'stdio' | 'http';
  /** For `http`: where the server listens inside the sandbox. */
  port: number;
  path: string;
  /** The server's whole environment; nothing else is inherited. */
  env: Record<string, string>;
  cwd: string;
  /** The channel socket, as seen inside the sandbox. */
  socketPath: string;
  /** How long the server has to become ready before the supervisor gives up. */
  startTimeoutMs: number;
}

export type SupervisorStatus =
  | { type: 'ready'; serverPid: number }
  | { type: 'failed'; code: 'server_start_timeout' | 'sandbox_failed'; message: string }
  | { type: 'server-exit'; exitCode: number | null; signal: string | null };

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
      return Number.isSafeInteger(v.serverPid) ? { type: 'ready', serverPid: v.serverPid as number } : undefined;
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
    default:
      return undefined;
  }
}
