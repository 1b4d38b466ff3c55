/**
 * The playground's MCP client: 2026-07-28 requests over fetch, as any client of a berth runtime sends them (a
 * session named in AgentCore's session header), answers read as JSON or as an event stream whose notifications
 * (progress, logs) arrive as they come.
 */
export const SESSION_HEADER = 'x-amzn-bedrock-agentcore-runtime-session-id';
const VERSION = '2026-07-28';

export interface RpcMessage {
  id?: unknown;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

let nextId = 1;

export async function mcpRequest(
  runtime: string,
  session: string,
  method: string,
  params: Record<string, unknown>,
  onNotification: (message: RpcMessage) => void = () => {},
): Promise<RpcMessage> {
  const id = nextId++;
  const meta = {
    'io.modelcontextprotocol/protocolVersion': VERSION,
    'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } },
    'io.modelcontextprotocol/clientInfo': { name: 'berth-console', version: '1.0.0' },
    progressToken: `console-${id}`,
  };
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': VERSION,
    'mcp-method': method,
    [SESSION_HEADER]: session,
  };
  if (typeof params.name === 'string') headers['mcp-name'] = params.name;
  const response = await fetch(`/runtimes/${encodeURIComponent(runtime)}/mcp`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: meta } }),
  });
  const type = response.headers.get('content-type') ?? '';
  if (!type.includes('text/event-stream')) {
    const text = await response.text();
    if (text === '') throw new Error(`the runtime answered ${response.status} with no body`);
    return JSON.parse(text) as RpcMessage;
  }
  // An event stream: notifications as they come, then the response.
  const reader = (response.body as ReadableStream<Uint8Array>)
    .pipeThrough(new TextDecoderStream() as unknown as ReadableWritablePair<string, Uint8Array>)
    .getReader();
  let buffer = '';
  let final: RpcMessage | undefined;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let boundary: RegExpExecArray | null;
    while ((boundary = /\r?\n\r?\n/.exec(buffer)) !== null) {
      const block = buffer.slice(0, boundary.index);
      buffer = buffer.slice(boundary.index + boundary[0].length);
      const data = block
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n');
      if (data === '') continue;
      const message = JSON.parse(data) as RpcMessage;
      if (message.method !== undefined && message.id === undefined) onNotification(message);
      else final = message;
    }
  }
  if (!final) throw new Error('the stream ended without a response');
  return final;
}
