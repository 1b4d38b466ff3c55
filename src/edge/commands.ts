import { Readable } from 'node:stream';
import { NodeAnswer, type Answer } from '../core/answer.ts';
import { CHANNEL_COMMANDS_PATH } from '../core/channel.ts';
import {
  COMMAND_EVENT_MAX_BYTES,
  COMMAND_REQUEST_MAX_BYTES,
  NDJSON_TYPE,
  parseCommandEvent,
  parseCommandRequest,
  type CommandEvent,
  type CommandRequest,
} from '../core/channel-commands.ts';
import { BerthError, isBerthError, toBerthError } from '../core/errors.ts';
import { readJsonObject } from '../core/http.ts';
import type { RuntimeService } from '../control/runtimes.ts';
import type { Logger } from '../observability/logger.ts';
import type { Lease } from '../sessions/manager.ts';
import type { SessionLeases } from './pipeline/lease.ts';
import { restErrorWithSession } from './invocations.ts';
import { callChannel, SESSION_HEADER, unansweredError } from './mcp/channel-call.ts';
import type { Caller } from './pipeline/caller.ts';
import { doorError } from './pipeline/door-errors.ts';
import { requiredSession } from './pipeline/session-key.ts';
import { notes } from '../observability/request-scope.ts';

export type { CommandEvent, CommandRequest } from '../core/channel-commands.ts';

/**
 * Runs a shell command in the sandbox of the lease's session (AgentCore's InvokeAgentRuntimeCommand) and resolves
 * once it runs, with its events as they come: `stdout` and `stderr` text in the order produced, then its `exit`,
 * last. `input` is checked first (`validation_failed`). The sandbox is untrusted, so every event line is bounded
 * and checked; one that is not an event, or output that ends without an exit, fails the iteration with a
 * BerthError. Stopping the iteration early, or aborting `signal`, kills the command. The caller holds the lease
 * until the iteration is over.
 */
export async function runCommand(lease: Lease, input: CommandRequest, signal: AbortSignal): Promise<AsyncIterable<CommandEvent>> {
  const request = parseCommandRequest(input);
  const headers = new Headers({ 'content-type': 'application/json', accept: NDJSON_TYPE });
  const answer = await callChannel(lease, headers, JSON.stringify(request), signal, CHANNEL_COMMANDS_PATH);
  const type = String(answer.headers['content-type'] ?? '');
  if (answer.status !== 200 || !type.startsWith(NDJSON_TYPE)) {
    discard(answer.body);
    throw new BerthError('sandbox_failed', `the sandbox answered the command with HTTP ${answer.status} (${type.slice(0, 100) || 'no type'}), not its output`);
  }
  return events(lease, answer.body);
}

async function* events(lease: Lease, body: Readable): AsyncGenerator<CommandEvent> {
  try {
    for await (const line of lines(body, COMMAND_EVENT_MAX_BYTES)) {
      const event = parseCommandEvent(line);
      if (!event) throw new BerthError('sandbox_failed', 'the sandbox sent something that is not a command event');
      yield event;
      if ('exit' in event) return;
    }
  } catch (error) {
    if (isBerthError(error)) throw error;
    throw await unansweredError(lease, error, "the command's sandbox stopped answering before the command ended");
  } finally {
    discard(body);
  }
  throw await unansweredError(lease, undefined, "the command's output ended without its exit status: its sandbox stopped");
}

/** Stops reading an answer; the abort this reports on the stream is expected, not a failure. */
function discard(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}

/** Lines of at most `max` bytes; a longer one is the sandbox's failure. */
async function* lines(body: Readable, max: number): AsyncGenerator<string> {
  let pending: Buffer[] = [];
  let size = 0;
  const tooLong = (): BerthError => new BerthError('sandbox_failed', `the sandbox sent a command event longer than ${max} bytes`);
  for await (const chunk of body as AsyncIterable<Buffer>) {
    let start = 0;
    for (let newline = chunk.indexOf(10); newline !== -1; newline = chunk.indexOf(10, start)) {
      const part = chunk.subarray(start, newline);
      if (size + part.length > max) throw tooLong();
      pending.push(part);
      yield Buffer.concat(pending, size + part.length).toString('utf8');
      pending = [];
      size = 0;
      start = newline + 1;
    }
    const rest = chunk.subarray(start);
    if (size + rest.length > max) throw tooLong();
    if (rest.length > 0) pending.push(rest);
    size += rest.length;
  }
  if (size > 0) yield Buffer.concat(pending, size).toString('utf8');
}

export interface CommandsEndpointOptions {
  runtimes: RuntimeService;
  /** The pipeline's lease step, where the session's sandbox is taken. */
  leases: SessionLeases;
  logger: Logger;
}

/**
 * `POST /runtimes/{name}/sessions/{sessionId}/commands` (`?endpoint=NAME`): runs `{"command", "timeoutSeconds"}`
 * in the session's sandbox, starting the session if it has none, as AgentCore does. The answer is NDJSON, one
 * event a line as the output arrives (`{"stdout"}`, `{"stderr"}`, then `{"exit": {"exitCode", "status"}}`); a
 * failure once the output has begun is a last line `{"error": {"code", "message"}}`. The session is held until the
 * command ends; a client that goes away kills the command.
 */
export function createCommandsEndpoint(options: CommandsEndpointOptions) {
  const { runtimes, leases, logger } = options;
  return async (caller: Caller): Promise<Answer> => {
    notes().door = 'commands';
    const { request, runtime, endpoint, principal } = caller;
    let sessionId: string | undefined;
    let lease: Lease | undefined;
    try {
      const resolved = caller.resolved ?? (await runtimes.resolve(runtime, endpoint));
      sessionId = requiredSession(caller, 'a command');
      const input = parseCommandRequest(await readJsonObject(request, COMMAND_REQUEST_MAX_BYTES));
      lease = await leases.take({ session: sessionId, target: resolved.target, principal });
      const out = Readable.from(ndjson(await runCommand(lease, input, caller.signal)), { objectMode: false });
      out.once('close', lease.release);
      return new NodeAnswer(200, { 'content-type': NDJSON_TYPE, 'cache-control': 'no-store', [SESSION_HEADER]: sessionId }, out);
    } catch (error) {
      lease?.release();
      if (!isBerthError(error)) logger.error('command failed', { runtime, session: sessionId, err: error });
      const session = sessionId;
      return doorError(caller, error, (berth) => restErrorWithSession(berth, session));
    }
  };
}

async function* ndjson(events: AsyncIterable<CommandEvent>): AsyncGenerator<string> {
  try {
    for await (const event of events) yield `${JSON.stringify(event)}\n`;
  } catch (error) {
    const { code, message } = toBerthError(error);
    yield `${JSON.stringify({ error: { code, message } })}\n`;
  }
}
