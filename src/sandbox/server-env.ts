import type { SandboxSpec } from './driver.ts';

/** The server's whole environment: berth's PATH and HOME, then what the runtime declares, then PORT for http. */
export function serverEnv(spec: SandboxSpec, base: { PATH: string; HOME: string }): Record<string, string> {
  const env: Record<string, string> = { ...base, ...spec.env };
  if (spec.transport === 'http') env.PORT = String(spec.port);
  return env;
}
