import type { SupervisorSpec } from '../core/channel.ts';

/** The spec arrives from the host as JSON; a malformed one is a bug on the host side, reported and fatal. */
export function parseSpec(json: string | undefined): SupervisorSpec {
  if (json === undefined) throw new Error('BERTH_SUPERVISOR_SPEC is not set');
  const value = JSON.parse(json) as Partial<SupervisorSpec>;
  const problems: string[] = [];
  if (typeof value.runtime !== 'string') problems.push('runtime');
  if (typeof value.command !== 'string' || value.command.trim() === '') problems.push('command');
  if (value.transport !== 'stdio' && value.transport !== 'http') problems.push('transport');
  if (!Number.isInteger(value.port)) problems.push('port');
  if (typeof value.path !== 'string' || !value.path.startsWith('/')) problems.push('path');
  if (typeof value.env !== 'object' || value.env === null) problems.push('env');
  if (typeof value.cwd !== 'string') problems.push('cwd');
  if (typeof value.socketPath !== 'string') problems.push('socketPath');
  if (!Number.isInteger(value.startTimeoutMs)) problems.push('startTimeoutMs');
  if (problems.length > 0) throw new Error(`supervisor spec is missing or has bad fields: ${problems.join(', ')}`);
  return value as SupervisorSpec;
}
