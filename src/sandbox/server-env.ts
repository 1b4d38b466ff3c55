import type { SandboxSpec } from './driver.ts';

/**
 * The server's whole environment: berth's PATH and HOME, then what the runtime declares, then PORT for http, and
 * under an egress policy, where the driver runs the sandbox's end of berth's egress proxy (`proxied`), the proxy
 * variables that send HTTP clients (curl, pip, Node with NODE_USE_ENV_PROXY) to it.
 */
export function serverEnv(spec: SandboxSpec, base: { PATH: string; HOME: string }, proxied: boolean): Record<string, string> {
  const env: Record<string, string> = { ...base, ...spec.env };
  if (spec.transport === 'http') env.PORT = String(spec.port);
  if (proxied && spec.network?.mode === 'egress') {
    const proxy = `http://127.0.0.1:${egressPort(spec)}`;
    Object.assign(env, {
      HTTP_PROXY: proxy,
      HTTPS_PROXY: proxy,
      http_proxy: proxy,
      https_proxy: proxy,
      NO_PROXY: 'localhost,127.0.0.1,::1',
      no_proxy: 'localhost,127.0.0.1,::1',
      NODE_USE_ENV_PROXY: '1',
    });
  }
  return env;
}

/** Where the supervisor listens for the server's proxied connections: a fixed port, unless the server has it. */
export function egressPort(spec: SandboxSpec): number {
  return spec.transport === 'http' && spec.port === EGRESS_PORT ? EGRESS_PORT + 1 : EGRESS_PORT;
}

const EGRESS_PORT = 3128;
