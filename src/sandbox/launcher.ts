import { isPlainCommand } from '../core/command.ts';
import type { SupervisorSpec } from '../core/channel.ts';
import { SUPERVISOR_NODE_FLAGS } from './supervisor-program.ts';
import { CHANNEL_FD } from './channel-socket.ts';
import type { SandboxSpec } from './driver.ts';
import { ENV_FILE_NAME } from './layout.ts';

/**
 * A sandbox's first program: a few lines of sh that start the runtime's server in the background and then become
 * berth's supervisor, so the two boot side by side instead of one after the other (each is a Node start, about
 * 20 ms). A stdio server's stdin and stdout are FIFOs, opened read-write for the server (stdout first, so a
 * supervisor that finds stdin open finds stdout open too), so neither side waits for the other. The server inherits the launcher's environment, which the
 * driver sets to exactly the server's (sh's own PWD is removed), but not the channel's listening socket
 * (CHANNEL_FD), which only the supervisor accepts on. The supervisor starts with an empty environment, so nothing
 * the runtime declares (NODE_OPTIONS, say) reaches it, and learns the server's pid from its arguments; the
 * commands it runs for clients get the server's environment from a file the driver writes (`envPath`). Where the
 * sandbox's kernel keeps no exit status in /proc (gVisor), a shell waits for the server and writes its status to
 * `exitStatusPath`.
 */
const SCRIPT = `unset PWD
ulimit -n "$8" || exit 92
if [ "$2" = stdio ]; then
  mkfifo -m 600 "$1/in" "$1/out" || exit 91
fi
if [ -n "$9" ]; then
  if [ "$2" = stdio ]; then { if [ "$3" = plain ]; then $4; else /bin/sh -c "$4"; fi; echo $? > "$9"; } 1<>"$1/out" 0<>"$1/in" ${CHANNEL_FD}>&- &
  else { if [ "$3" = plain ]; then $4; else /bin/sh -c "$4"; fi; echo $? > "$9"; } </dev/null 1>&2 ${CHANNEL_FD}>&- & fi
elif [ "$2" = stdio ]; then
  if [ "$3" = plain ]; then $4 1<>"$1/out" 0<>"$1/in" ${CHANNEL_FD}>&- & else /bin/sh -c "$4" 1<>"$1/out" 0<>"$1/in" ${CHANNEL_FD}>&- & fi
else
  if [ "$3" = plain ]; then $4 </dev/null 1>&2 ${CHANNEL_FD}>&- & else /bin/sh -c "$4" </dev/null 1>&2 ${CHANNEL_FD}>&- & fi
fi
exec /usr/bin/env -i "$5" ${SUPERVISOR_NODE_FLAGS.join(' ')} "$6" "$7" "$!"`;

/** Where things are for the launcher; the driver starts it in the server's working directory (its artifact). */
export interface LaunchPaths {
  /** The writable directory holding a stdio server's FIFOs. */
  runDir: string;
  node: string;
  supervisor: string;
}

/** argv for the launcher: `/bin/sh -c SCRIPT …`. */
export function launcherArgv(paths: LaunchPaths, spec: SupervisorSpec, openFiles: number): string[] {
  const plain = isPlainCommand(spec.command) ? 'plain' : 'shell';
  return [
    '/bin/sh',
    '-c',
    SCRIPT,
    'berth-launch',
    paths.runDir,
    spec.transport,
    plain,
    spec.command.trim(),
    paths.node,
    paths.supervisor,
    JSON.stringify(spec),
    String(openFiles),
    spec.exitStatusPath ?? '',
  ];
}

/**
 * What the supervisor is told: the runtime's part of the sandbox spec, with where the sandbox keeps its run
 * directory and how it reaches the channel; `overrides` for what a driver places elsewhere.
 */
export function supervisorSpecFor(
  spec: SandboxSpec,
  runDir: string,
  channel: SupervisorSpec['channel'],
  overrides: Partial<SupervisorSpec> = {},
): SupervisorSpec {
  return {
    runtime: spec.runtime,
    command: spec.command,
    protocol: spec.protocol,
    transport: spec.transport,
    port: spec.port,
    path: spec.path,
    ...runPaths(runDir),
    channel,
    startTimeoutMs: spec.startTimeoutMs,
    ...(spec.warmup ? { warmup: spec.warmup } : {}),
    era: spec.era,
    inputTimeoutMs: spec.inputTimeoutMs,
    // Named one by one: the node's settings hold more than the supervisor is told.
    perSession: { subscriptions: spec.perSession.subscriptions, listeners: spec.perSession.listeners, pendingInputs: spec.perSession.pendingInputs },
    ...overrides,
  };
}

/** The files in the sandbox's run directory, as the supervisor sees them: a stdio server's FIFOs, the environment file. */
export function runPaths(runDir: string): Pick<SupervisorSpec, 'stdinPath' | 'stdoutPath' | 'envPath'> {
  return { stdinPath: `${runDir}/in`, stdoutPath: `${runDir}/out`, envPath: `${runDir}/${ENV_FILE_NAME}` };
}
