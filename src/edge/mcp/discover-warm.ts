import { randomUUID } from 'node:crypto';
import { META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION, MODERN_VERSION } from '../../mcp/classify.ts';
import type { RuntimeService } from '../../control/runtimes.ts';
import type { Logger } from '../../observability/logger.ts';
import { outsideRequest } from '../../observability/request-scope.ts';
import type { SessionManager } from '../../sessions/manager.ts';
import type { SessionLeases } from '../pipeline/lease.ts';
import type { VersionRecord } from '../../store/store.ts';
import { ANONYMOUS } from '../auth/principal.ts';
import { callChannel } from './channel-call.ts';
import type { DiscoverCache } from './discover-cache.ts';

export interface DiscoverWarmingOptions {
  runtimes: RuntimeService;
  sessions: SessionManager;
  /** The pipeline's lease step, where the session's sandbox is taken. */
  leases: SessionLeases;
  discovers: DiscoverCache;
  logger: Logger;
}

/**
 * A runtime whose sessionless clients are answered as its server would (`sessionlessClients: stateless`) answers
 * their `server/discover` from berth's cache, which its servers fill. So that the first such client after a deploy
 * or a restart finds it filled too, berth asks one sandbox of the version in the background, then ends it: the
 * sandbox start happens here, never on a client's request. One version at a time, so that a node starting with many
 * such runtimes does not take the start slots its clients need.
 */
export function warmDiscovers(options: DiscoverWarmingOptions): void {
  const { runtimes, logger } = options;
  let queue = Promise.resolve();
  const warm = (version: VersionRecord): void => {
    if (version.spec.sessionlessClients !== 'stateless' || version.spec.protocol !== 'mcp') return;
    // The deploy that set it off is not what this work is about.
    outsideRequest(() => {
      queue = queue
        .then(() => ask(options, version))
        .catch((error: unknown) => {
          logger.warn('could not learn what the runtime answers server/discover', { runtime: version.runtime, version: version.version, err: error });
        });
    });
  };
  runtimes.onDeployed(warm);
  void (async () => {
    for (const runtime of await runtimes.list()) warm(await runtimes.version(runtime.name, runtime.latestVersion));
  })().catch((error: unknown) => logger.warn('could not list the runtimes to learn what they answer server/discover', { err: error }));
}

async function ask({ runtimes, sessions, leases, discovers }: DiscoverWarmingOptions, version: VersionRecord): Promise<void> {
  const key = `${version.runtime}@${version.version}`;
  if (discovers.has(key)) return;
  const resolved = await runtimes.resolve(version.runtime);
  if (resolved.version.version !== version.version) return;
  const session = `berth-discover-${randomUUID()}`;
  const lease = await leases.take({ session, target: resolved.target, principal: ANONYMOUS, minted: true });
  try {
    const headers = new Headers({
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MODERN_VERSION,
      'mcp-method': 'server/discover',
    });
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'server/discover',
      params: { _meta: { [META_PROTOCOL_VERSION]: MODERN_VERSION, [META_CLIENT_CAPABILITIES]: {} } },
    });
    const answer = await callChannel(lease, headers, body, AbortSignal.timeout(30_000));
    for await (const _chunk of discovers.observe(key, answer.body, String(answer.headers['content-type'] ?? ''))) {
      // read to its end, for the cache to see the whole answer
    }
  } finally {
    lease.release();
    await sessions.stop(session);
  }
}
