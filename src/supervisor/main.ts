/**
 * berth's supervisor, started by the sandbox's launcher right after the runtime's server (see
 * src/sandbox/launcher.ts): `supervisor SPEC_JSON SERVER_PID`. It takes charge of the server and serves the
 * channel on a Unix socket (see serve.ts for what it serves), and runs commands for every runtime. It reports on
 * stdout, one JSON line each: `ready`, `activity`, `failed`, or `server-exit`. When the server exits, the
 * supervisor exits too, so the sandbox ends with it and the session's next request gets a fresh one.
 *
 * `supervisor SPEC_JSON commands` is the command runner of a sandbox whose server berth supervises from its own
 * process (see host.ts): it serves only `POST /commands` on the channel's socket, and is started at the first command.
 */
import { CHANNEL_COMMANDS_PATH, CHANNEL_SHELL_PATH, type SupervisorSpec, type SupervisorStatus } from '../core/channel.ts';
import type { SamplingPace } from '../core/sampling-pace.ts';
import { ActivityReporter } from './activity.ts';
import { serveChannel } from './channel-server.ts';
import { createCommandRunner, type CommandRunner } from './commands.ts';
import { forwardEgress } from './egress-forwarder.ts';
import { watchLimits } from './limit-watch.ts';
import { serve, type Served } from './serve.ts';
import { attachServer, kill, StartTimeout, unlessExited, type AttachedServer } from './server-process.ts';
import { loadServerEnv } from './server-env.ts';
import { parseSpec } from './spec.ts';
import { runWarmup } from './warmup.ts';
import { createShells } from './shells.ts';

function report(status: SupervisorStatus): void {
  process.stdout.write(`${JSON.stringify(status)}\n`);
}

function onOutput(line: string): void {
  process.stderr.write(`${line}\n`);
}

const activity = new ActivityReporter(report);

/** The limit watch, told of every channel request so that it samples often while the sandbox is in use. */
let limits: SamplingPace | undefined;

/** Serves commands only, for as long as the sandbox lives; a failure to start is said on stderr, the session's log. */
async function runCommands(spec: SupervisorSpec): Promise<void> {
  const env = loadServerEnv(spec.envPath);
  const commands = createCommandRunner({ env, cwd: process.cwd() });
  const shells = createShells({ pty: spec.pty, env, cwd: process.cwd() });
  const routes = new Map([
    [`POST ${CHANNEL_COMMANDS_PATH}`, commands.handle],
    [`GET ${CHANNEL_SHELL_PATH}`, shells.handle],
  ]);
  await serveChannel(spec.channel, routes, () => ({ ok: true }), onOutput);
}

async function main(): Promise<void> {
  const spec = parseSpec(process.argv[2]);
  if (process.argv[3] === 'commands') return runCommands(spec);
  const pid = Number(process.argv[3]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`the launcher passed no server pid (got "${process.argv[3]}")`);
  let served: Served;
  let server: AttachedServer;
  let commands: CommandRunner;
  let shells: ReturnType<typeof createShells>;
  try {
    if (spec.protocol === 'http' && spec.transport !== 'http') {
      throw new Error('an http agent serves /invocations on a port: deploy it with transport http');
    }
    const env = loadServerEnv(spec.envPath);
    commands = createCommandRunner({ env, cwd: process.cwd() });
    shells = createShells({ pty: spec.pty, env, cwd: process.cwd() });
    if (spec.egress) await forwardEgress(spec.egress);
    server = await attachServer(spec, pid);
    served = await serve(spec, server, { log: onOutput, activity, endServer: () => kill(pid) });
    if (spec.warmup) await unlessExited(spec, server.exited, runWarmup(spec.warmup, server.host), 'answered its warmup hook');
    const routes = new Map([
      [`POST ${served.path}`, served.handler],
      [`POST ${CHANNEL_COMMANDS_PATH}`, commands.handle],
      [`GET ${CHANNEL_SHELL_PATH}`, shells.handle],
      ...(served.routes ?? []),
    ]);
    await serveChannel(
      spec.channel,
      routes,
      () => ({ ok: true, serverPid: pid, era: served.era, busy: activity.busy }),
      onOutput,
      () => limits?.begin() ?? ignore,
    );
  } catch (error) {
    const code = error instanceof StartTimeout ? 'server_start_timeout' : 'sandbox_failed';
    report({ type: 'failed', code, message: (error as Error).message });
    process.exit(1);
  }
  report({ type: 'ready', serverPid: pid, era: served.era });
  if (spec.watch) limits = watchLimits(spec.watch, report);
  const exit = await server.exited;
  report({ type: 'server-exit', exitCode: exit.exitCode, signal: exit.signal });
  // Commands run in process groups of their own; the sandbox's end must take them too, whatever the driver.
  commands.killAll();
  shells.killAll();
  // Give in-flight answers a moment to flush their "server exited" errors, then end the sandbox.
  setTimeout(() => process.exit(0), 100);
}

// The channel keeps this process alive from ready on, and every start step waits on a timer or a socket; an event
// loop with nothing left is a bug, which must fail the start loudly rather than end it with exit code 0.
process.on('beforeExit', () => {
  report({ type: 'failed', code: 'sandbox_failed', message: "berth's supervisor stopped with nothing left to wait on (a bug in berth: please report it)" });
  process.exit(1);
});

// A fault while handling one message is answered and logged where it happens (serveClientMessage, the peers); one
// that reaches here leaves the supervisor in a state nothing vouches for, so it ends the sandbox, saying why: the
// report reaches berth's log, the stack the session's.
function die(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  onOutput(`berth: the supervisor failed and ends the sandbox: ${error instanceof Error ? (error.stack ?? message) : message}`);
  report({ type: 'failed', code: 'sandbox_failed', message: `supervisor error: ${message}` });
  process.exit(1);
}

process.on('uncaughtException', die);
process.on('unhandledRejection', die);

function ignore(): void {}

void main();
