import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultHome, type Env } from '../config/config.ts';

/** Where `berth serve` keeps the first admin key it made, in the home this CLI's environment names. */
export function adminKeyFile(env: Env): string {
  return join(resolve(env.BERTH_HOME ?? defaultHome()), 'keys', 'admin-key');
}

/** The admin key: `BERTH_ADMIN_KEY`, else the first key's file when this user can read it. */
export function adminKey(env: Env): string | undefined {
  if (env.BERTH_ADMIN_KEY !== undefined && env.BERTH_ADMIN_KEY.trim() !== '') return env.BERTH_ADMIN_KEY.trim();
  try {
    return readFileSync(adminKeyFile(env), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
