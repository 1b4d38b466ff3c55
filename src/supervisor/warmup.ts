import { WARMUP_TIMEOUT_MS, type SupervisorSpec } from '../core/channel.ts';
import { lazy } from './lazy-builtin.ts';
/** What of a failed hook's answer the error quotes. */
const QUOTED_BYTES = 512;

/**
 * Runs a runtime's warmup hook (AgentCore's `hooksConfiguration.build.warmup`): one `POST` to the server inside the
 * sandbox, once, before the sandbox is ready for any session. Any 2xx answer within the time limit is success;
 * anything else fails the sandbox's start with the answer's status and the start of its body, and nothing retries.
 */
export function runWarmup(hook: NonNullable<SupervisorSpec['warmup']>, host: string): Promise<void> {
  const where = `POST ${hook.path} on port ${hook.port}`;
  return new Promise((resolve, reject) => {
    const req = lazy('node:http').request(
      { host: host || '127.0.0.1', port: hook.port, path: hook.path, method: 'POST', headers: { 'content-length': '0' } },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          res.resume();
          res.on('end', () => resolve());
          res.on('error', () => resolve());
          return;
        }
        let quoted = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (quoted.length < QUOTED_BYTES) quoted += chunk;
        });
        const fail = (): void => reject(new Error(`the warmup hook (${where}) answered ${status}${quoted ? `: ${quoted.slice(0, QUOTED_BYTES).trim()}` : ''}`));
        res.on('end', fail);
        res.on('error', fail);
      },
    );
    req.setTimeout(WARMUP_TIMEOUT_MS, () => req.destroy(new Error(`did not answer within ${WARMUP_TIMEOUT_MS / 1000} s`)));
    req.on('error', (error) => reject(new Error(`the warmup hook (${where}) failed: ${error.message}`)));
    req.end();
  });
}
