import { StringDecoder } from 'node:string_decoder';
import { BerthError } from '../../core/errors.ts';
import { asJsonRpcMessage, isResponse, type JsonRpcMessage, type JsonRpcResponse } from '../../mcp/jsonrpc.ts';
import { SseParser } from '../../mcp/sse.ts';
import type { ChannelAnswer } from './channel-call.ts';

/** The largest message berth reads whole from a sandbox on a client's behalf; a larger one is refused. */
const MAX_ANSWER_MESSAGE = 16 * 1024 * 1024;

/**
 * Reads a sandbox's answer to one request as messages, in order: the related notifications an SSE answer carries,
 * then the response. For the edge's own use (the legacy facade), which must understand an answer rather than
 * pass it on. `onNotification` may return a promise: the next message is read once it settles, so a slow consumer
 * slows the sandbox rather than growing a queue.
 */
export async function readAnswer(answer: ChannelAnswer, onNotification: (message: JsonRpcMessage) => void | Promise<void>): Promise<JsonRpcResponse> {
  const type = String(answer.headers['content-type'] ?? '');
  if (answer.status === 202) {
    answer.body.resume();
    return { jsonrpc: '2.0', id: null, result: {} };
  }
  if (type.includes('text/event-stream')) {
    const parser = new SseParser(MAX_ANSWER_MESSAGE);
    const decoder = new StringDecoder('utf8');
    for await (const chunk of answer.body as AsyncIterable<Buffer>) {
      let events;
      try {
        events = parser.push(decoder.write(chunk));
      } catch (error) {
        throw new BerthError('sandbox_failed', `the sandbox's answer is malformed: ${(error as Error).message}`);
      }
      for (const event of events) {
        const message = parse(event.data);
        if (!message) continue;
        if (isResponse(message)) {
          answer.body.destroy();
          return message;
        }
        await onNotification(message);
      }
    }
    throw new BerthError('sandbox_failed', 'the sandbox ended its answer without a response');
  }
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of answer.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_ANSWER_MESSAGE) {
      answer.body.destroy();
      throw new BerthError('sandbox_failed', `the sandbox's answer is larger than ${MAX_ANSWER_MESSAGE} bytes`);
    }
    chunks.push(chunk);
  }
  const message = parse(Buffer.concat(chunks).toString('utf8'));
  if (!message || !isResponse(message)) throw new BerthError('sandbox_failed', `the sandbox answered HTTP ${answer.status} without a JSON-RPC response`);
  return message;
}

function parse(text: string): JsonRpcMessage | undefined {
  try {
    return asJsonRpcMessage(JSON.parse(text));
  } catch {
    return undefined;
  }
}
