import { Readable } from 'node:stream';
import { toBerthError } from '../../core/errors.ts';
import type { SessionTarget } from '../../sessions/manager.ts';
import type { SessionLeases } from '../pipeline/lease.ts';
import { parseCommandRequest, type CommandEvent } from '../../core/channel-commands.ts';
import { runCommand } from '../commands.ts';
import { SESSION_HEADER } from '../mcp/channel-call.ts';
import { chunkEvent, EVENT_STREAM_CONTENT_TYPE, exceptionEvent } from './event-stream.ts';
import type { Principal } from '../auth/principal.ts';

export interface CommandStreamInput {
  leases: SessionLeases;
  target: SessionTarget;
  sessionId: string;
  /** InvokeAgentRuntimeCommand's body: `{command, timeout}`. */
  body: { command?: unknown; timeout?: unknown };
  signal: AbortSignal;
  /** Who runs the command: the session must be theirs, or is made theirs. */
  principal: Principal;
}

/**
 * InvokeAgentRuntimeCommand's answer: the command runs in the session's sandbox (made if the session has none),
 * and its output streams as AWS event-stream messages, `contentStart`, `contentDelta` (stdout or stderr, as
 * produced), `contentStop` with the exit code. A failure once the stream has begun arrives as an exception message,
 * which the SDK throws while iterating. The session's lease is held until the stream ends.
 */
export async function commandEventStream(input: CommandStreamInput): Promise<Readable & { headers: Record<string, string> }> {
  // Checked before the session is made, so a bad request costs no sandbox.
  const request = parseCommandRequest(
    input.body.timeout === undefined ? { command: input.body.command } : { command: input.body.command, timeoutSeconds: input.body.timeout },
  );
  const lease = await input.leases.take({ session: input.sessionId, target: input.target, principal: input.principal });
  let events: AsyncIterable<CommandEvent>;
  try {
    events = await runCommand(lease, request, input.signal);
  } catch (error) {
    lease.release();
    throw error;
  }
  const frames = async function* (): AsyncGenerator<Buffer> {
    try {
      yield chunkEvent({ contentStart: {} });
      for await (const event of events) yield chunkEvent(toChunk(event));
    } catch (error) {
      const err = toBerthError(error);
      const type = err.awsException;
      yield exceptionEvent(type.charAt(0).toLowerCase() + type.slice(1), err.message);
    } finally {
      lease.release();
    }
  };
  const stream = Readable.from(frames()) as Readable & { headers: Record<string, string> };
  stream.headers = { 'content-type': EVENT_STREAM_CONTENT_TYPE, [SESSION_HEADER]: input.sessionId };
  return stream;
}

function toChunk(event: CommandEvent): Record<string, unknown> {
  if ('exit' in event) return { contentStop: { exitCode: event.exit.exitCode, status: event.exit.status } };
  return { contentDelta: event };
}
