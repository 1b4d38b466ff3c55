import assert from 'node:assert/strict';
import type { CommandEvent } from '../../src/core/channel-commands.ts';

/** One line of a command's NDJSON answer. */
export type Event = CommandEvent | { error: { code: string; message: string } };

/** The NDJSON lines of an answer, parsed, one at a time as they arrive. */
export async function* ndjson(body: AsyncIterable<Uint8Array>): AsyncGenerator<Event> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of body) {
    text += decoder.decode(chunk, { stream: true });
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n')) {
      yield JSON.parse(text.slice(0, end)) as Event;
      text = text.slice(end + 1);
    }
  }
  assert.equal(text, '', 'the answer ends with a whole line');
}

export interface CommandOutcome {
  events: Event[];
  stdout: string;
  stderr: string;
  exit: { exitCode: number; status: string } | undefined;
}

export function outcome(events: Event[]): CommandOutcome {
  const text = (key: 'stdout' | 'stderr'): string => events.map((event) => (key in event ? (event as Record<typeof key, string>)[key] : '')).join('');
  const last = events.at(-1);
  return { events, stdout: text('stdout'), stderr: text('stderr'), exit: last && 'exit' in last ? last.exit : undefined };
}

/** Runs `command` in the session's sandbox through berth's commands route and collects its output. */
export async function runCommand(url: string, runtime: string, sessionId: string, command: string): Promise<CommandOutcome> {
  const response = await fetch(`${url}/runtimes/${runtime}/sessions/${sessionId}/commands`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ command }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  const events: Event[] = [];
  for await (const event of ndjson(response.body as AsyncIterable<Uint8Array>)) events.push(event);
  return outcome(events);
}
