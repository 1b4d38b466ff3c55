import type { SessionTarget } from '../sessions/manager.ts';
import type { RuntimeLimits } from '../core/runtime-spec.ts';
import type { VersionRecord } from '../store/store.ts';

type SandboxSpec = SessionTarget['sandbox'];
type SandboxLimits = SandboxSpec['limits'];

/** What the node gives every sandbox it starts, where a runtime's spec does not say otherwise. */
export interface SandboxDefaults {
  startTimeoutMs: number;
  inputTimeoutMs: number;
  logBytes: number;
  limits: SandboxLimits;
  /** What a sandbox's supervisor keeps for the session's clients, at most. */
  perSession: SandboxSpec['perSession'];
}

/** Where a version's code lies on this node, and its secret variables, opened (the caller alone may open them). */
export interface VersionOnNode {
  artifactDir: string;
  secrets: Record<string, string> | undefined;
}

/**
 * What a new session of `version` runs: its stored spec over the node's defaults. Secret variables join the plain
 * ones in the server's environment, and their values go along apart so the sandbox hides them in its output.
 */
export function sessionTarget(version: VersionRecord, onNode: VersionOnNode, defaults: SandboxDefaults): SessionTarget {
  const { spec, runtime } = version;
  const { secrets } = onNode;
  return {
    runtime,
    version: version.version,
    idleTimeoutSeconds: spec.idleTimeoutSeconds,
    maxLifetimeSeconds: spec.maxLifetimeSeconds,
    sandbox: {
      runtime,
      artifactDir: onNode.artifactDir,
      command: spec.command,
      transport: spec.transport,
      protocol: spec.protocol,
      port: spec.port,
      path: spec.path,
      env: secrets ? { ...spec.env, ...secrets } : spec.env,
      ...(secrets ? { secrets: Object.values(secrets) } : {}),
      limits: limitsOf(spec.limits, defaults.limits),
      startTimeoutMs: defaults.startTimeoutMs,
      ...(spec.warmup ? { warmup: { path: spec.warmup.path, port: spec.warmup.port ?? spec.port } } : {}),
      era: spec.serverEra,
      inputTimeoutMs: defaults.inputTimeoutMs,
      perSession: defaults.perSession,
      logBytes: defaults.logBytes,
      ...(spec.driver ? { driver: spec.driver } : {}),
      ...(spec.network ? { network: spec.network } : {}),
    },
  };
}

const MIB = 1024 * 1024;

/** A runtime's own limits over the node's defaults; the spec counts in MiB, a sandbox in bytes. */
export function limitsOf(own: RuntimeLimits | undefined, defaults: SandboxLimits): SandboxLimits {
  if (!own) return defaults;
  return {
    memoryBytes: own.memoryMb !== undefined ? own.memoryMb * MIB : defaults.memoryBytes,
    pids: own.pids ?? defaults.pids,
    cpus: own.cpus ?? defaults.cpus,
    tmpBytes: defaults.tmpBytes,
    workspaceBytes: own.workspaceMb !== undefined ? own.workspaceMb * MIB : defaults.workspaceBytes,
    openFiles: own.openFiles ?? defaults.openFiles,
  };
}
