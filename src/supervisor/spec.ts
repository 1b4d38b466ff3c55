import type { SupervisorSpec } from '../core/channel.ts';

/** The spec arrives from the host as JSON; a malformed one is a bug on the host side, reported and fatal. */
export function parseSpec(json: string | undefined): SupervisorSpec {
  if (json === undefined) throw new Error('the supervisor takes its spec as its first argument');
  const value = JSON.parse(json) as Partial<SupervisorSpec>;
  const problems: string[] = [];
  if (typeof value.runtime !== 'string') problems.push('runtime');
  if (typeof value.command !== 'string' || value.command.trim() === '') problems.push('command');
  if (!['mcp', 'http', 'a2a', 'agui'].includes(value.protocol as string)) problems.push('protocol');
  if (value.transport !== 'stdio' && value.transport !== 'http') problems.push('transport');
  if (!Number.isInteger(value.port)) problems.push('port');
  if (typeof value.path !== 'string' || !value.path.startsWith('/')) problems.push('path');
  if (typeof value.stdinPath !== 'string') problems.push('stdinPath');
  if (typeof value.stdoutPath !== 'string') problems.push('stdoutPath');
  if (typeof value.envPath !== 'string') problems.push('envPath');
  if (!validChannel(value.channel)) problems.push('channel');
  if (value.egress !== undefined && (typeof value.egress?.socket !== 'string' || !Number.isInteger(value.egress?.port))) problems.push('egress');
  if (value.exitStatusPath !== undefined && typeof value.exitStatusPath !== 'string') problems.push('exitStatusPath');
  if (!Number.isInteger(value.startTimeoutMs)) problems.push('startTimeoutMs');
  if (value.warmup !== undefined && (typeof value.warmup?.path !== 'string' || !value.warmup.path.startsWith('/') || !Number.isInteger(value.warmup?.port)))
    problems.push('warmup');
  if (value.prime !== undefined && typeof value.prime !== 'boolean') problems.push('prime');
  if (value.era !== 'auto' && value.era !== 'modern' && value.era !== 'legacy') problems.push('era');
  if (!Number.isInteger(value.inputTimeoutMs)) problems.push('inputTimeoutMs');
  if (!validLimits(value.perSession)) problems.push('perSession');
  if (value.watch !== undefined && !validWatch(value.watch)) problems.push('watch');
  if (problems.length > 0) throw new Error(`supervisor spec is missing or has bad fields: ${problems.join(', ')}`);
  return value as SupervisorSpec;
}

function validLimits(limits: unknown): boolean {
  if (typeof limits !== 'object' || limits === null) return false;
  const { subscriptions, listeners, pendingInputs } = limits as Record<string, unknown>;
  return [subscriptions, listeners, pendingInputs].every((n) => Number.isInteger(n) && (n as number) > 0);
}

function validWatch(watch: unknown): boolean {
  if (typeof watch !== 'object' || watch === null) return false;
  const { workspace, openFiles, pids } = watch as Record<string, unknown>;
  const count = (n: unknown): boolean => n === undefined || (Number.isInteger(n) && (n as number) > 0);
  return (workspace === undefined || (typeof workspace === 'string' && workspace.startsWith('/'))) && count(openFiles) && count(pids);
}

function validChannel(channel: unknown): boolean {
  if (typeof channel !== 'object' || channel === null) return false;
  const { fd, dial, spares } = channel as Record<string, unknown>;
  if (fd !== undefined) return Number.isInteger(fd) && dial === undefined;
  return typeof dial === 'string' && dial.startsWith('/') && Number.isInteger(spares) && (spares as number) >= 1;
}
