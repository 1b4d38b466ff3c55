import type { Readable, Writable } from 'node:stream';
import type { SupervisorSpec, SupervisorStatus } from './channel.ts';

/** How a server process ended, as a shell reports it: its exit code, or the signal that killed it. */
export interface ServerExit {
  exitCode: number | null;
  signal: string | null;
}

/**
 * A stdio server that berth supervises from its own process rather than from a supervisor inside its sandbox: what
 * the driver hands the supervision (supervisor/host.ts), which the node injects into the driver. The sandbox then
 * holds only the server, a shell waiting on it, and a command runner once a command is asked for.
 */
export interface HostedServer {
  spec: SupervisorSpec;
  /** The server's stdin and stdout: pipes into the sandbox. */
  stdin: Writable;
  stdout: Readable;
  /**
   * The launcher's word once the server exited: the shell's `$?` (128 + N for signal N); undefined when the sandbox
   * ended without saying.
   */
  exitStatus: Promise<string | undefined>;
  /** Host pid of the sandbox's outermost process: its tree holds every process of the sandbox. */
  pid: number;
  /** Where berth serves the sandbox's channel: a socket in the sandbox's host directory, out of the sandbox's reach. */
  channelPath: string;
  /** The sandbox's own channel socket, where its command runner accepts once `startCommands` has started it. */
  commandsPath: string;
  /** Starts the sandbox's command runner unless it runs already. */
  startCommands: () => void;
  /** The sandbox's workspace as berth reaches it, given its path inside; undefined once unreachable. */
  workspace: (inside: string) => string | undefined;
  /** Host pids of the sandbox's processes. */
  processes: () => Iterable<string>;
  /** What the supervisor inside a sandbox would have said on its stdout. */
  report: (status: SupervisorStatus) => void;
  /** The session's log. */
  log: (line: string) => void;
  /** Ends the sandbox. */
  end: () => void;
}

/** Supervises a hosted server until it exits or `close` is called (the sandbox ended). */
export type SuperviseOnHost = (server: HostedServer) => { close(): void };
