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
