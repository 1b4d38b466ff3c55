/**
 * The floor under a new session's first answer: the same Node server started inside a bare bwrap sandbox (every
 * namespace, read-only /usr, the artifact at /app, a cleared environment) and asked one tools/call over stdio,
 * with no berth, no cgroups and no supervisor. What berth adds to a cold start is measured beside it.
 */
import { CALL_BODY, rateBefore } from './common.ts';
import { startStdioServer, type StdioServer } from './stdio-spread.ts';

const NODE_INSIDE = '/opt/node/bin/node';

/** A bare sandbox: every namespace, the system read-only, a private /proc, /dev and /tmp, and nothing of berth's. */
const BARE =
  '--unshare-all --die-with-parent --new-session --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/bin /bin --proc /proc --dev /dev --tmpfs /tmp';

/** bwrap around the server, with `dir` at /app and this process's Node inside. */
function bwrapAround(dir: string): string[] {
  return [
    '/usr/bin/bwrap',
    ...BARE.split(' '),
    ...['--ro-bind', process.execPath, NODE_INSIDE, '--ro-bind', dir, '/app', '--chdir', '/app', '--clearenv', '--setenv', 'PATH', '/usr/bin:/bin'],
    ...['--', NODE_INSIDE, 'server.js', 'stdio'],
  ];
}

/** `count` cold starts: spawn → the first tools/call's answer, in ms. */
export async function bwrapNodeFloor(dir: string, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const begun = performance.now();
    const server = startStdioServer(dir, bwrapAround(dir) as [string, ...string[]]);
    try {
      const answer = await server.call(CALL_BODY);
      if (!answer.includes('count')) throw new Error(`the floor's server did not answer its call: ${answer.slice(0, 300)}`);
      samples.push(performance.now() - begun);
    } finally {
      await server.stop();
    }
  }
  return samples;
}

/**
 * The floor under the creation rate: bare sandboxes of the server started `atOnce` at a time and kept running, as
 * a node's sessions are, until the last checkpoint; the rate over the 50 starts before each checkpoint (as berth's
 * is measured). All are stopped before it returns.
 */
export async function bwrapNodeFloorRates(dir: string, checkpoints: number[], atOnce: number): Promise<Map<number, number>> {
  const running: StdioServer[] = [];
  const arrivals: number[] = [];
  const start = async (): Promise<void> => {
    const server = startStdioServer(dir, bwrapAround(dir) as [string, ...string[]]);
    running.push(server);
    const answer = await server.call(CALL_BODY);
    if (!answer.includes('count')) throw new Error(`the floor's server did not answer its call: ${answer.slice(0, 300)}`);
    arrivals.push(performance.now());
  };
  try {
    const most = Math.max(...checkpoints);
    while (arrivals.length < most) await Promise.all(Array.from({ length: Math.min(atOnce, most - arrivals.length) }, start));
    return new Map(checkpoints.map((live) => [live, rateBefore(arrivals, live) ?? Number.NaN]));
  } finally {
    await Promise.all(running.map((server) => server.stop()));
  }
}
