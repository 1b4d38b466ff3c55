import { randomUUID } from 'node:crypto';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { SESSION_HEADER } from './berth.ts';

export interface SessionClient {
  sessionId: string;
  client: Client;
  /** Calls a tool and returns its text content parsed as JSON. */
  call(name: string, args?: Record<string, unknown>): Promise<unknown>;
  close(): Promise<void>;
}

/** An official MCP client (2026-07-28) bound to one berth session of `runtime`. */
export async function connectSession(baseUrl: string, runtime: string, sessionId: string = randomUUID()): Promise<SessionClient> {
  const client = new Client({ name: 'berth-test', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/runtimes/${runtime}/mcp`), {
    requestInit: { headers: { [SESSION_HEADER]: sessionId } },
  });
  await client.connect(transport);
  return {
    sessionId,
    client,
    call: async (name, args = {}) => {
      const result = await client.callTool({ name, arguments: args });
      const first = (result.content as Array<{ type: string; text?: string }>)[0];
      if (result.isError) throw new Error(`tool ${name} failed: ${first?.text}`);
      return JSON.parse(first?.text ?? 'null');
    },
    close: () => client.close(),
  };
}

export interface RawAnswer {
  status: number;
  headers: Headers;
  /** Notifications that came before the response, in order (SSE answers). */
  notifications: Array<{ method: string; params?: Record<string, unknown> }>;
  response: { id?: unknown; result?: Record<string, unknown>; error?: { code: number; message: string; data?: Record<string, unknown> } };
}

export interface RawCallOptions {
  sessionId?: string;
  capabilities?: Record<string, unknown>;
  /** Extra params beside name/arguments (inputResponses, requestState…). */
  params?: Record<string, unknown>;
  meta?: Record<string, unknown>;
  headers?: Record<string, string>;
  id?: number | string;
}

let rawIds = 1;

/** One 2026-07-28 request over plain fetch, with the headers a modern client sends; reads JSON or SSE answers. */
export async function rawCall(
  baseUrl: string,
  runtime: string,
  method: string,
  name: string | undefined,
  args: Record<string, unknown> | undefined,
  options: RawCallOptions = {},
): Promise<RawAnswer> {
  const meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': options.capabilities ?? {},
    ...options.meta,
  };
  const params: Record<string, unknown> = { ...options.params, _meta: meta };
  if (name !== undefined) params[method === 'resources/read' ? 'uri' : 'name'] = name;
  if (args !== undefined) params.arguments = args;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': method,
    ...options.headers,
  };
  if (name !== undefined) headers['mcp-name'] = name;
  if (options.sessionId !== undefined) headers[SESSION_HEADER] = options.sessionId;
  const response = await fetch(`${baseUrl}/runtimes/${runtime}/mcp`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: options.id ?? rawIds++, method, params }),
  });
  const textBody = await response.text();
  const notifications: RawAnswer['notifications'] = [];
  let final: RawAnswer['response'] = {};
  if ((response.headers.get('content-type') ?? '').includes('text/event-stream')) {
    for (const block of textBody.split(/\r?\n\r?\n/)) {
      const data = block
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n');
      if (!data) continue;
      const message = JSON.parse(data) as { method?: string; params?: Record<string, unknown> } & RawAnswer['response'];
      if (message.method) notifications.push({ method: message.method, params: message.params });
      else final = message;
    }
  } else if (textBody !== '') {
    final = JSON.parse(textBody) as RawAnswer['response'];
  }
  return { status: response.status, headers: response.headers, notifications, response: final };
}

/** The parsed JSON of a tool result's first text content. */
export function toolText(answer: RawAnswer): unknown {
  const content = answer.response.result?.content as Array<{ text?: string }> | undefined;
  return JSON.parse(content?.[0]?.text ?? 'null');
}
