/**
 * The sandbox driver port. A driver turns a SandboxSpec into a running Sandbox: an isolated instance of one runtime
 * version with berth's supervisor inside, reachable through its channel socket. The session manager sees only
 * this interface; every driver passes the shared contract suite in `test/helpers/driver-contract.ts`.
 */
import type { SessionClientLimits } from '../core/channel.ts';
import type { ChannelConnector } from './channel-dialin.ts';
import type { Logger } from '../observability/logger.ts';
import type { OutputLog } from './output-log.ts';
import type { RuntimeSpec } from '../core/runtime-spec.ts';

/** How berth reaches a sandbox's channel: a Unix socket it connects to, or connections the sandbox dials in. */
export type ChannelEndpoint = { socketPath: string } | { connect: ChannelConnector };

export interface SandboxLimits {
  memoryBytes: number;
  pids: number;
  /** CPU share in cores. */
  cpus: number;
  /** Size of the private `/tmp`. */
  tmpBytes: number;
  /** Size of the private workspace (`HOME`); like `/tmp`, its files count against `memoryBytes`. */
  workspaceBytes: number;
  /** Open files per process (RLIMIT_NOFILE, hard). */
  openFiles: number;
}

export interface SandboxSpec {
  /** Short unique id, such as `sbx_3kq7m2ab9xfe`; names the sandbox's directories and cgroups. */
  id: string;
  /** Runtime name, for messages and logs. */
  runtime: string;
  /** Host directory holding the runtime version's code; the sandbox sees it read-only as its working directory. */
  artifactDir: string;
  command: string;
  /** `mcp`: an MCP server; `http`: an agent serving AgentCore's HTTP contract (`/invocations`, `/ping`) on `port`. */
  protocol: RuntimeSpec['protocol'];
  transport: RuntimeSpec['transport'];
  /** For `http`: where the server listens inside the sandbox. */
  port: number;
  path: string;
  /** The variables the runtime declares; berth adds only PATH, HOME and (for `http`) PORT. */
  env: Record<string, string>;
  /** The values of the runtime's secret variables, hidden wherever the sandbox's output is kept or shown. */
  secrets?: readonly string[];
  limits: SandboxLimits;
  startTimeoutMs: number;
  /**
   * Started ahead for a warm pool: the server is asked one read-only `server/discover` before the sandbox is ready,
   * so the first request of the session that takes it finds the server's and the supervisor's paths warm.
   */
  prime?: boolean;
  /** A `POST` the sandbox's server must answer 2xx before the sandbox is ready (the runtime's warmup hook). */
  warmup?: { path: string; port: number };
  /** Which MCP revision the server speaks; `auto` lets the supervisor ask it. */
  era: 'auto' | 'modern' | 'legacy';
  /** How long a bridged call waits for its client's answers before it is cancelled. */
  inputTimeoutMs: number;
  /** What the sandbox's supervisor keeps for the session's clients, at most. */
  perSession: SessionClientLimits;
  /** How much of the sandbox's output (the server's stderr; an HTTP server's stdout too) is kept for its logs. */
  logBytes: number;
  /** The driver the runtime asks for; unset, the node's default makes the sandbox. */
  driver?: string;
  /** What the sandbox may reach beyond its own loopback; unset is `none`. */
  network?: NetworkPolicy;
}

/**
 * `none`: nothing. `egress`: what `allow` lists (host names, `*.` suffixes, address ranges), through berth's egress
 * proxy only. `host`: the host's network, unfiltered.
 */
export type NetworkPolicy = { mode: 'none' } | { mode: 'egress'; allow: string[] } | { mode: 'host' };

/** Why a sandbox ended. `limit` names the resource when the kernel enforced one. */
export interface SandboxExit {
  reason: 'stopped' | 'server-exit' | 'failed' | 'killed';
  exitCode?: number | null;
  signal?: string | null;
  limit?: 'memory' | 'pids';
}

/** The limits a runtime sets on its sandboxes (see SandboxLimits), as a session's record names them. */
export type LimitName = 'memory' | 'pids' | 'cpu' | 'workspace' | 'openFiles';

/**
 * A sandbox ran into one of its limits: `ended` (the kernel killed it at its memory limit), `throttled` (its CPU
 * quota held it back) or `refused` (a fork, a write or an open failed at the limit, and the session goes on).
 */
export interface LimitEvent {
  limit: LimitName;
  effect: 'ended' | 'throttled' | 'refused';
  /** What happened, for a person: the figures and what the server saw. */
  detail: string;
}

/** Every time a sandbox ran into one limit, folded into one entry: the latest detail, when first and last, how often. */
export interface LimitRecord extends LimitEvent {
  firstAt: string;
  lastAt: string;
  count: number;
}

export interface SandboxStats {
  /** Memory charged to the sandbox (cgroup usage, or the process tree's RSS where there is no cgroup). */
  memoryBytes?: number;
  /** CPU time its processes have used, in seconds, where a cgroup counts it; after its exit, the last count. */
  cpuSeconds?: number;
}

/** Work going on in a sandbox that no request in flight shows; while any is, its session is not idle. */
export interface SandboxActivity {
  /** Calls whose clients owe answers to the server's questions. */
  waiting: number;
  /** An http agent's `/ping` says `HealthyBusy`: it works in the background. */
  busy: boolean;
}

export interface Sandbox {
  readonly id: string;
  /** The MCP revision the server turned out to speak. */
  readonly era: 'modern' | 'legacy';
  /** The sandbox's output, newest lines within a bound. */
  readonly output: OutputLog;
  /** What the sandbox last reported of its background work. */
  readonly activity: SandboxActivity;
  /** Hears `activity` change. */
  onActivity(listener: (activity: SandboxActivity) => void): void;
  /** Host pid of the sandbox's outermost process. */
  readonly pid: number;
  /** Where berth reaches the supervisor. */
  readonly channel: ChannelEndpoint;
  /**
   * Settles as soon as the sandbox takes no new requests: its server exited, or it is being stopped. Answers
   * already under way may still be finishing (a crash reports itself to its in-flight calls); never rejects.
   */
  readonly closing: Promise<void>;
  /** Settles once the sandbox is gone and cleaned up; never rejects. */
  readonly exited: Promise<SandboxExit>;
  stats(): SandboxStats;
  /** Which kernel-enforced limit the sandbox has run into so far, if any. */
  limitReached(): SandboxExit['limit'];
  /** Every limit the sandbox has run into so far, once each. */
  limits(): LimitRecord[];
  /**
   * Hears each new episode of a limit the sandbox runs into (not every sample of one still going on). Limits are
   * sampled about once a second while the sandbox is used (see `using`), so one crossed and left between two
   * samples, or crossed and left while the sandbox is idle, may go unheard.
   */
  onLimit(listener: (event: LimitEvent) => void): void;
  /**
   * A request to the sandbox is under way until the function returned is called: its limits are watched closely
   * meanwhile and for a while after, and not at all once it has been idle a while.
   */
  using(): () => void;
  /**
   * Someone learned the sandbox's server is gone before the supervisor said so (a call answered `server_crashed`):
   * it takes no new requests from now on (`closing` settles) and is ended shortly, once answers in flight are out.
   */
  retire(): void;
  /** Kills everything in the sandbox and removes its private files. Idempotent; resolves when done. */
  stop(): Promise<void>;
}

/** What every driver is made with. */
export interface DriverOptions {
  /** Where the driver keeps its sandboxes' private directories and its shared files. */
  stateDir: string;
  /** The bundled supervisor (see supervisor-program.ts). */
  supervisorPath: string;
  /** The Node binary berth runs on; sandboxes get the same one as `node`. */
  nodePath: string;
  logger: Logger;
}

/** What an isolating driver is made with besides: berth's own ports, which no egress policy reaches on this host (filled in once berth listens). */
export interface IsolatingDriverOptions extends DriverOptions {
  berthPorts?: readonly number[];
}

export interface SandboxDriver {
  readonly name: string;
  /** False for drivers that run servers as plain processes: no boundary between sessions. */
  readonly isolated: boolean;
  /**
   * Starts a sandbox and resolves when its server is ready for requests. Rejects with a BerthError
   * (`server_start_timeout`, `sandbox_failed`) whose message names the runtime and says what went wrong.
   */
  start(spec: SandboxSpec): Promise<Sandbox>;
  /** Stops every sandbox this driver started. */
  close(): Promise<void>;
}
