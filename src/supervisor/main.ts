/**
 * berth's supervisor, started by the sandbox's launcher right after the runtime's server (see
 * src/sandbox/launcher.ts): `supervisor SPEC_JSON SERVER_PID`. It takes charge of the server, serves the channel on
 * a Unix socket, and reports on stdout, one JSON line each: `ready`, `failed`, or `server-exit`. When the server
 * exits, the supervisor exits too, so the sandbox ends with it and the session's next request gets a fresh one.
 */
import type { SupervisorStatus } from '../core/channel.ts';
import { listenChannel } from './channel-server.ts';
import { createHttpUpstream } from './http-upstream.ts';
import { attachServer, StartTimeout } from './server-process.ts';
import { parseSpec } from './spec.ts';
import { StdioUpstream } from './stdio-upstream.ts';

function report(status: SupervisorStatus): void {
  process.stdout.write(`${JSON.stringify(status)}\n`);
}

async function main(): Promise<void> {
  const spec = parseSpec(process.argv[2]);
  const pid = Number(process.argv[3]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`the launcher passed no server pid (got "${process.argv[3]}")`);
  let server;
  try {
    server = await attachServer(spec, pid);
  } catch (error) {
    const code = error instanceof StartTimeout ? 'server_start_timeout' : 'sandbox_failed';
    report({ type: 'failed', code, message: (error as Error).message });
    process.exit(1);
  }
  const { host, exited, stdin, stdout } = server;
  const handler =
    stdin && stdout
      ? new StdioUpstream(spec.runtime, stdin, stdout, exited, (line) => process.stderr.write(`${line}\n`)).handle
      : createHttpUpstream(spec, host, exited);
  await listenChannel(spec.socketPath, handler, () => ({ ok: true, serverPid: pid }));
  report({ type: 'ready', serverPid: pid });
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
