/**
 * berth's supervisor: the first program in every sandbox. It starts the runtime's server, serves the channel on a
 * Unix socket, and reports on stdout (one JSON line each): `ready`, `failed`, or `server-exit`. When the server
 * exits, the supervisor exits too, so the sandbox ends with it and the session's next request gets a fresh one.
 */
import type { SupervisorStatus } from '../core/channel.ts';
import { listenChannel } from './channel-server.ts';
import { createHttpUpstream } from './http-upstream.ts';
import { parseSpec } from './spec.ts';
import { StartTimeout, startServer } from './server-process.ts';
import { StdioUpstream } from './stdio-upstream.ts';

function report(status: SupervisorStatus): void {
  process.stdout.write(`${JSON.stringify(status)}\n`);
}

async function main(): Promise<void> {
  const spec = parseSpec(process.env.BERTH_SUPERVISOR_SPEC);
  delete process.env.BERTH_SUPERVISOR_SPEC;
  let server;
  try {
    server = await startServer(spec);
  } catch (error) {
    const code = error instanceof StartTimeout ? 'server_start_timeout' : 'sandbox_failed';
    report({ type: 'failed', code, message: (error as Error).message });
    process.exit(1);
  }
  const { child, host, exited } = server;
  const handler =
    spec.transport === 'stdio'
      ? new StdioUpstream(spec.runtime, child, exited, (line) => process.stderr.write(`${line}\n`)).handle
      : createHttpUpstream(spec, host, exited);
  await listenChannel(spec.socketPath, handler, () => ({ ok: true, serverPid: child.pid }));
  report({ type: 'ready', serverPid: child.pid ?? -1 });
  const exit = await exited;
  report({ type: 'server-exit', exitCode: exit.exitCode, signal: exit.signal });
  // Give in-flight answers a moment to flush their "server exited" errors, then end the sandbox.
  setTimeout(() => process.exit(0), 100);
}

process.on('uncaughtException', (error) => {
  report({ type: 'failed', code: 'sandbox_failed', message: `supervisor error: ${error.message}` });
  process.exit(1);
});

void main();
