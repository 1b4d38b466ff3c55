import { isPlainCommand } from '../core/command.ts';
import type { SupervisorSpec } from '../core/channel.ts';
import { SUPERVISOR_NODE_FLAGS } from './supervisor-program.ts';
import { CHANNEL_FD } from './channel-socket.ts';
import type { SandboxSpec } from './driver.ts';
import { ENV_FILE_NAME } from './layout.ts';

/** The launcher's own variables; a runtime's environment may not use the prefix (core/runtime-spec.ts). */
const LAUNCH_VARIABLES = [
  'BERTH_LAUNCH_MODE',
  'BERTH_LAUNCH_RUN',
  'BERTH_LAUNCH_TRANSPORT',
  'BERTH_LAUNCH_PLAIN',
  'BERTH_LAUNCH_COMMAND',
  'BERTH_LAUNCH_NODE',
  'BERTH_LAUNCH_SUPERVISOR',
  'BERTH_LAUNCH_SPEC',
  'BERTH_LAUNCH_OPEN_FILES',
  'BERTH_LAUNCH_EXIT_STATUS',
  'BERTH_LAUNCH_COMPILE_CACHE',
] as const;

/**
 * Descriptors a hosted sandbox's launcher finds open (see SCRIPT): berth's lines to it (GO_FD, whose first line
 * let the slot's shell go on to bwrap), and its lines to berth (STATUS_FD, whose first said the shell had joined
 * its cgroups; then the server's exit status).
 */
export const GO_FD = 7;
export const STATUS_FD = 8;
/** sh gives a job in the background /dev/null for stdin: the server's is kept here across the fork. */
const STDIN_COPY_FD = 6;

/**
 * A sandbox's first program: a few lines of sh that start the runtime's server in the background and then become
 * berth's supervisor, so the two boot side by side instead of one after the other (each is a Node start, about
 * 20 ms). Its command line is the same for every sandbox; what it starts is in its environment (`BERTH_LAUNCH_*`,
 * see launchEnv), which it reads and unsets first, so a driver can start a sandbox's processes before it knows
 * what they will run. A stdio server's stdin and stdout are FIFOs (made here, in the run directory),
 * opened read-write for the server (stdout first, so a supervisor that finds stdin open finds stdout open too), so
 * neither side waits for the other. The server
 * inherits the launcher's environment, which the driver sets to exactly the server's (sh's own PWD is removed),
 * but not the channel's listening socket (CHANNEL_FD), which only the supervisor accepts on. The supervisor starts
 * with an empty environment, so nothing the runtime declares (NODE_OPTIONS, say) reaches it, and learns the
 * server's pid from its arguments; the commands it runs for clients get the server's environment from a file the
 * driver writes (`envPath`). Where the sandbox's kernel keeps no exit status in /proc (gVisor), a shell waits for
 * the server and writes its status to `exitStatusPath`.
 *
 * A hosted sandbox (mode `hosted`: a stdio server berth supervises from its own process, see
 * src/supervisor/host.ts) runs no supervisor. The server's stdin and stdout are the launcher's own, pipes from berth;
 * a shell waits for the server and writes its status on STATUS_FD; the launcher then waits on GO_FD, and for each
 * line berth sends there starts the command runner (the supervisor in its `commands` mode) unless it runs already.
 * The sandbox ends when berth closes GO_FD or kills it. Other sandboxes close both descriptors first.
 */
const SCRIPT = `unset PWD
m=$BERTH_LAUNCH_MODE r=$BERTH_LAUNCH_RUN t=$BERTH_LAUNCH_TRANSPORT p=$BERTH_LAUNCH_PLAIN c=$BERTH_LAUNCH_COMMAND n=$BERTH_LAUNCH_NODE
s=$BERTH_LAUNCH_SUPERVISOR j=$BERTH_LAUNCH_SPEC f=$BERTH_LAUNCH_OPEN_FILES x=$BERTH_LAUNCH_EXIT_STATUS k=$BERTH_LAUNCH_COMPILE_CACHE
unset ${LAUNCH_VARIABLES.join(' ')}
ulimit -n "$f" || exit 92
if [ "$m" = hosted ]; then
  exec ${STDIN_COPY_FD}<&0
  { if [ "$p" = plain ]; then $c 0<&${STDIN_COPY_FD} ${STDIN_COPY_FD}<&- ${STATUS_FD}>&-; else /bin/sh -c "$c" 0<&${STDIN_COPY_FD} ${STDIN_COPY_FD}<&- ${STATUS_FD}>&-; fi
    echo "$?" >&${STATUS_FD}; } ${CHANNEL_FD}>&- ${GO_FD}<&- &
  exec 0</dev/null 1>/dev/null ${STDIN_COPY_FD}<&- ${STATUS_FD}>&-
  q=
  while read -r _ <&${GO_FD}; do
    if [ -z "$q" ] || ! kill -0 "$q" 2>/dev/null; then
      /usr/bin/env -i \${k:+"NODE_COMPILE_CACHE=$k"} "$n" ${SUPERVISOR_NODE_FLAGS.join(' ')} "$s" "$j" commands ${GO_FD}<&- &
      q=$!
    fi
  done
  exit 0
fi
exec ${GO_FD}<&- ${STATUS_FD}>&-
if [ "$t" = stdio ]; then
  mkfifo -m 600 "$r/in" "$r/out" || exit 91
fi
if [ -n "$x" ]; then
  if [ "$t" = stdio ]; then { if [ "$p" = plain ]; then $c; else /bin/sh -c "$c"; fi; echo $? > "$x"; } 1<>"$r/out" 0<>"$r/in" ${CHANNEL_FD}>&- &
  else { if [ "$p" = plain ]; then $c; else /bin/sh -c "$c"; fi; echo $? > "$x"; } </dev/null 1>&2 ${CHANNEL_FD}>&- & fi
elif [ "$t" = stdio ]; then
  if [ "$p" = plain ]; then $c 1<>"$r/out" 0<>"$r/in" ${CHANNEL_FD}>&- & else /bin/sh -c "$c" 1<>"$r/out" 0<>"$r/in" ${CHANNEL_FD}>&- & fi
else
  if [ "$p" = plain ]; then $c </dev/null 1>&2 ${CHANNEL_FD}>&- & else /bin/sh -c "$c" </dev/null 1>&2 ${CHANNEL_FD}>&- & fi
fi
exec /usr/bin/env -i \${k:+"NODE_COMPILE_CACHE=$k"} "$n" ${SUPERVISOR_NODE_FLAGS.join(' ')} "$s" "$j" "$!"`;

/** Where things are for the launcher; the driver starts it in the server's working directory (its artifact). */
export interface LaunchPaths {
  /** The writable directory holding a stdio server's FIFOs. */
  runDir: string;
  node: string;
  supervisor: string;
  /** A directory of V8's compiled code for the supervisor, read-only (see drivers/bwrap/compile-cache.ts). */
  compileCache?: string;
}

/** argv for the launcher: the same for every sandbox (what differs is in launchEnv). */
export const LAUNCHER_ARGV: readonly string[] = ['/bin/sh', '-c', SCRIPT, 'berth-launch'];

/** The launcher's own variables, beside the server's: what to start, and how. The launcher unsets them first. */
export function launchEnv(
  paths: LaunchPaths,
  spec: SupervisorSpec,
  openFiles: number,
  mode: 'supervised' | 'hosted' = 'supervised',
): Record<(typeof LAUNCH_VARIABLES)[number], string> {
  return {
    BERTH_LAUNCH_MODE: mode,
    BERTH_LAUNCH_RUN: paths.runDir,
    BERTH_LAUNCH_TRANSPORT: spec.transport,
    BERTH_LAUNCH_PLAIN: isPlainCommand(spec.command) ? 'plain' : 'shell',
    BERTH_LAUNCH_COMMAND: spec.command.trim(),
    BERTH_LAUNCH_NODE: paths.node,
    BERTH_LAUNCH_SUPERVISOR: paths.supervisor,
    BERTH_LAUNCH_SPEC: JSON.stringify(spec),
    BERTH_LAUNCH_OPEN_FILES: String(openFiles),
    BERTH_LAUNCH_EXIT_STATUS: spec.exitStatusPath ?? '',
    BERTH_LAUNCH_COMPILE_CACHE: paths.compileCache ?? '',
  };
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
    ...(spec.prime ? { prime: true } : {}),
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
