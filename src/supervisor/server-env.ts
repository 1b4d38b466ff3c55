import { readFileSync, rmSync } from 'node:fs';

/**
 * The server's environment, from the file the driver wrote beside the FIFOs (see SupervisorSpec.envPath), read
 * once and removed where the sandbox may remove it (gVisor's sees it on a read-only mount, gone with the sandbox). Not /proc/<server>/environ: that is the server's own memory, which programs that set their
 * process title overwrite, and which reads empty once the server has exited.
 */
export function loadServerEnv(path: string): Record<string, string> {
  const value = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  try {
    rmSync(path, { force: true });
  } catch {
    // read-only: the host removes it with the sandbox
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw new Error(`${path} does not hold an environment (an object of strings)`);
  }
  return value as Record<string, string>;
}
