import { StringDecoder } from 'node:string_decoder';
import { asJsonRpcMessage, isResponse, type JsonRpcMessage, type JsonRpcResponse } from '../../mcp/jsonrpc.ts';
import { SseParser } from '../../mcp/sse.ts';
import type { ChannelAnswer } from './channel-call.ts';

/** A JSON answer over this size is not one berth needs to read whole: it is refused as malformed. */
const MAX_JSON_ANSWER = 64 * 1024 * 1024;

/**
 * Reads a sandbox's answer to one request as messages, in order: the related notifications an SSE answer carries,
 * then the response. For the edge's own use (the legacy facade), which must understand an answer rather than
 * pass it on.
 */
export async function readAnswer(answer: ChannelAnswer, onNotification: (message: JsonRpcMessage) => void): Promise<JsonRpcResponse> {
  const type = String(answer.headers['content-type'] ?? '');
  if (answer.status === 202) {
    answer.body.resume();
    return { jsonrpc: '2.0', id: null, result: {} };
  }
  if (type.includes('text/event-stream')) {
    const parser = new SseParser();
    const decoder = new StringDecoder('utf8');
    for await (const chunk of answer.body as AsyncIterable<Buffer>) {
      for (const event of parser.push(decoder.write(chunk))) {
        const message = parse(event.data);
        if (!message) continue;
        if (isResponse(message)) {
          answer.body.destroy();
          return message;
        }
        onNotification(message);
      }
    }
    throw new Error('the answer stream ended without a response');
  }
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of answer.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_JSON_ANSWER) throw new Error('the answer is too large');
    chunks.push(chunk);
  }
  const message = parse(Buffer.concat(chunks).toString('utf8'));
  if (!message || !isResponse(message)) throw new Error(`the sandbox answered HTTP ${answer.status} without a JSON-RPC response`);
  return message;
}

function parse(text: string): JsonRpcMessage | undefined {
  try {
    return asJsonRpcMessage(JSON.parse(text));
  } catch {
    return undefined;
  }
}
